"""Managing parking operators: their API keys, whether they are active, and which lots they update.

Operators are identified by their numeric id (the table has no code column). A key is shown once, when
it is made (``add_operator``, ``rotate_key``); only its SHA-256 is stored (``service.hash_api_key``), so
replacing the hash makes the old key fail at once and nobody can show a key again. ``authenticate_operator``
accepts only active operators, so disabling works immediately too.

Assigning a lot sets ``Place.operator_id``: the only operator allowed to push its availability. Refusals
are checked before anything is changed, so a refused call writes nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session

from core.kit.clock import utcnow
from core.models.places import ParkingOperator, Place, PlaceKind
from core.places import repository
from core.places.errors import (
    InvalidOperatorName,
    LotsRefused,
    NoLotCodes,
    OperatorNameTaken,
    OperatorNotFound,
)
from core.places.service import API_KEY_BYTES, create_operator, hash_api_key

NAME_MAX = 128


# --- results ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OperatorSummary:
    id: int
    name: str
    active: bool
    lots: int


@dataclass(frozen=True, slots=True)
class LotChange:
    """One lot whose operator was set or cleared, with the operator it had before."""

    code: str
    name: str
    previous_operator_id: int | None


# --- services ---------------------------------------------------------------


def get_operator(session: Session, operator_id: int) -> ParkingOperator:
    operator = session.get(ParkingOperator, operator_id)
    if operator is None:
        raise OperatorNotFound(operator_id)
    return operator


def add_operator(session: Session, *, name: str) -> tuple[ParkingOperator, str]:
    """A new active operator and its plaintext API key, which cannot be shown again.

    Names must be unique (there is no constraint for it): running ``add`` twice by mistake would otherwise
    leave a second operator whose working key nobody keeps track of."""
    clean = name.strip()
    if not clean:
        raise InvalidOperatorName("运营方名称不能为空")
    if len(clean) > NAME_MAX:
        raise InvalidOperatorName(f"运营方名称不能超过 {NAME_MAX} 个字符")
    existing = repository.operator_by_name(session, clean)
    if existing is not None and existing.id is not None:
        raise OperatorNameTaken(clean, existing.id)
    return create_operator(session, name=clean)


def list_operators(session: Session) -> list[OperatorSummary]:
    return [
        OperatorSummary(id=operator_id, name=name, active=bool(active), lots=int(lots))
        for operator_id, name, active, lots in repository.operator_lot_counts(session)
    ]


def rotate_key(session: Session, *, operator_id: int) -> tuple[ParkingOperator, str]:
    """Replace the operator's key: the old one fails from the commit on; the new one is returned once."""
    operator = get_operator(session, operator_id)
    key = secrets.token_urlsafe(API_KEY_BYTES)
    operator.api_key_hash = hash_api_key(key)
    operator.updated_at = utcnow()
    repository.add(session, operator)
    return operator, key


def set_active(session: Session, *, operator_id: int, active: bool) -> tuple[ParkingOperator, bool]:
    """Enable or disable an operator; returns it and whether anything changed (repeating is harmless).

    A disabled operator's key is refused at once; its key is kept, so enabling restores that same key."""
    operator = get_operator(session, operator_id)
    if operator.active == active:
        return operator, False
    operator.active = active
    operator.updated_at = utcnow()
    repository.add(session, operator)
    return operator, True


def _lots(session: Session, codes: Sequence[str], *, action: str) -> list[Place]:
    """The parking lots with these codes in the given order (duplicates once), or ``LotsRefused``."""
    unique = list(dict.fromkeys(codes))
    if not unique:
        raise NoLotCodes()
    places = repository.places_by_code(session, unique)
    unknown = [code for code in unique if code not in places]
    not_parking = [code for code in unique if code in places and places[code].kind is not PlaceKind.PARKING]
    if unknown or not_parking:
        raise LotsRefused(action, unknown=unknown, not_parking=not_parking)
    return [places[code] for code in unique]


def _set_operator(session: Session, lots: list[Place], operator_id: int | None) -> list[LotChange]:
    changes = []
    for lot in lots:
        changes.append(LotChange(code=lot.code, name=lot.name, previous_operator_id=lot.operator_id))
        # Not ``updated_at``: it signs the nearest-place index, which holds nothing about operators
        # (as with availability pushes, see docs/decisions/0010-places.md).
        lot.operator_id = operator_id
        session.add(lot)
    session.flush()
    return changes


def assign_lots(session: Session, *, operator_id: int, codes: Sequence[str]) -> list[LotChange]:
    """Make ``operator_id`` the one operator allowed to push availability for these lots.

    A lot of another operator moves to this one; the operator may be disabled (lots can be prepared
    before it is enabled). Unknown operators, unknown codes and non-parking places refuse the whole call."""
    operator = get_operator(session, operator_id)
    lots = _lots(session, codes, action="指定运营方")
    return _set_operator(session, lots, operator.id)


def unassign_lots(session: Session, *, codes: Sequence[str]) -> list[LotChange]:
    """Clear the operator of these lots: nobody can push their availability until they are assigned again.

    Values already pushed stay until they are older than ``PlacesSettings.availability_stale_s``."""
    lots = _lots(session, codes, action="解除运营方")
    return _set_operator(session, lots, None)
