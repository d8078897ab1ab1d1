"""Reply templates: validation, editing, deactivation and which ones a case offers."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from core.errors import Invalid
from core.replies import service
from core.replies.errors import ReplyTemplateNotFound
from core.replies.service import TemplateInput
from tests.fixtures.cases import City


def test_create_update_and_deactivate(session: Session, city: City) -> None:
    template = service.create(session, TemplateInput(title=" 已处理 ", body="问题已处理，感谢支持。"))
    assert template.id is not None
    assert template.title == "已处理"
    assert template.active

    service.update(
        session, template.id, TemplateInput(title="已修复", body="井盖已更换。", category_id=city.manhole.id)
    )
    assert template.title == "已修复"
    assert template.category_id == city.manhole.id

    service.set_active(session, template.id, active=False)
    assert not service.get(session, template.id).active


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (TemplateInput(title="", body="x"), "请填写模板标题"),
        (TemplateInput(title="x" * 65, body="x"), "不能超过 64"),
        (TemplateInput(title="x", body="  "), "请填写答复内容"),
        (TemplateInput(title="x", body="y" * 1001), "不能超过 1000"),
        (TemplateInput(title="x", body="y", category_id=987654), "案件小类不存在"),
    ],
)
def test_invalid_input_is_refused_in_chinese(session: Session, data: TemplateInput, message: str) -> None:
    with pytest.raises(Invalid, match=message):
        service.create(session, data)


def test_a_major_category_is_not_a_template_scope(session: Session, city: City) -> None:
    assert city.manhole.parent_id is not None
    with pytest.raises(Invalid):
        service.create(session, TemplateInput(title="x", body="y", category_id=city.manhole.parent_id))


def test_a_case_is_offered_general_and_its_own_categorys_active_templates(
    session: Session, city: City
) -> None:
    general = service.create(session, TemplateInput(title="通用", body="a"))
    own = service.create(session, TemplateInput(title="井盖", body="b", category_id=city.manhole.id))
    service.create(session, TemplateInput(title="垃圾", body="c", category_id=city.rubbish.id))
    old = service.create(session, TemplateInput(title="旧的", body="d"))
    assert old.id is not None
    service.set_active(session, old.id, active=False)

    offered = service.for_case(session, city.manhole.id)

    assert [t.id for t in offered] == [own.id, general.id]


def test_unknown_template(session: Session) -> None:
    with pytest.raises(ReplyTemplateNotFound):
        service.get(session, 987654)
