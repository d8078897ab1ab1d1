"""The receipt as a printable HTML page (the same lines as the PDF)."""

from __future__ import annotations

from html import escape

from payments.receipts.document import ELECTRONIC_NOTE, SUBTITLE, TITLE, TREASURY_NOTE, Receipt

STYLE = """
body { font-family: "Noto Serif CJK SC", "Songti SC", SimSun, serif; margin: 2em auto; max-width: 42em; }
h1 { text-align: center; font-size: 1.6em; margin-bottom: 0; }
p.sub { text-align: center; margin-top: .2em; }
table { border-collapse: collapse; width: 100%; margin-top: 1.5em; }
th, td { border: 1px solid #333; padding: .45em .7em; text-align: left; vertical-align: top; }
th { width: 8em; font-weight: normal; background: #f4f4f4; }
p.note { font-size: .9em; }
p.sign { text-align: right; }
@media print { body { margin: 0 auto; } }
"""


def render_html(receipt: Receipt) -> str:
    rows = "\n".join(
        f"<tr><th>{escape(label)}</th><td>{escape(value)}</td></tr>" for label, value in receipt.lines
    )
    return f"""<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{escape(TITLE)} {escape(receipt.receipt_no)}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>{escape(TITLE)}</h1>
<p class="sub">{escape(SUBTITLE)}</p>
<table>
{rows}
</table>
<p class="note">{escape(TREASURY_NOTE)}</p>
<p class="note">{escape(ELECTRONIC_NOTE)}</p>
<p class="sign">执收单位：{escape(receipt.bureau_name)}<br>开具日期：{escape(receipt.paid_at_local[:10])}</p>
</body>
</html>
"""
