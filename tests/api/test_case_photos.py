"""Who may look at a case photo: the owner, the reporter (report and handling photos), staff who may
view the case; nobody else (404)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.deps import get_session
from api.main import create_app
from core.cases.service import ActionInput, perform
from core.cases.workflow import Action
from core.models import CaseStatus, Citizen, StaffRole, StaffUser, Upload, UploadStatus
from core.settings import get_settings
from core.uploads.storage import LocalStorage
from tests.core.cases.conftest import MakeCase
from tests.fixtures.cases import City


@pytest.fixture
def photo_client(session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("ZHCG_STORAGE__LOCAL_DIR", str(tmp_path / "photos"))
    get_settings.cache_clear()
    app = create_app(get_settings())

    def _session() -> Iterator[Session]:
        yield session

    app.dependency_overrides[get_session] = _session
    with TestClient(app) as client:
        yield client
    get_settings.cache_clear()


def ready_photo(city: City, owner: Citizen | StaffUser) -> str:
    upload_id = city.upload(owner)
    upload = city.session.get(Upload, upload_id)
    assert upload is not None
    storage = LocalStorage(get_settings().storage.local_dir)
    storage.put(f"display/{upload_id}.jpg", b"\xff\xd8display", "image/jpeg")
    storage.put(f"thumbs/{upload_id}.jpg", b"\xff\xd8thumb", "image/jpeg")
    upload.display_key, upload.thumb_key = f"display/{upload_id}.jpg", f"thumbs/{upload_id}.jpg"
    upload.status = UploadStatus.READY
    city.session.add(upload)
    city.session.flush()
    return upload_id


def test_photo_visibility(photo_client: TestClient, city: City, make_case: MakeCase) -> None:
    case = make_case(CaseStatus.DISPATCHED)
    reporter = city.session.get(Citizen, case.reporter_citizen_id)
    assert reporter is not None
    stranger = city.citizen()
    handler = city.staff[StaffRole.HANDLER]
    handling = ready_photo(city, handler)
    perform(
        city.session,
        city.settings,
        case_no=case.case_no,
        actor=handler,
        action=Action.HANDLE,
        data=ActionInput(upload_ids=(handling,)),
    )
    supervisor = city.staff[StaffRole.SUPERVISOR]
    check_photo = ready_photo(city, supervisor)
    perform(
        city.session,
        city.settings,
        case_no=case.case_no,
        actor=supervisor,
        action=Action.CHECK,
        data=ActionInput(passed=True, upload_ids=(check_photo,)),
    )

    def get(upload_id: str, who: Citizen | StaffUser, variant: str = "display") -> int:
        return photo_client.get(
            f"/api/v1/uploads/{upload_id}/{variant}", headers=city.headers(who)
        ).status_code

    assert get(handling, handler) == 200  # owner
    assert get(handling, reporter) == 200  # the reporter sees how it was handled
    assert get(handling, reporter, "thumb") == 200
    assert get(check_photo, reporter) == 404  # internal check photos are not for citizens
    assert get(handling, stranger) == 404
    assert get(handling, city.staff[StaffRole.OPERATOR]) == 200
    other_handler = city.staff_member(StaffRole.HANDLER, department=city.sanitation)
    assert get(handling, other_handler) == 404
    response = photo_client.get(f"/api/v1/uploads/{handling}/display", headers=city.headers(reporter))
    assert response.headers["content-type"] == "image/jpeg"
    assert (
        photo_client.get(f"/api/v1/uploads/{handling}/original", headers=city.headers(handler)).status_code
        == 422
    )
