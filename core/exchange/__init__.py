"""The 12345 work-order exchange: signed orders in (``intake``), status pushes out (``pushes``,
``delivery``, ``client``). The wire protocol is described in docs/exchange-12345.md."""
