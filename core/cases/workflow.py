"""The case workflow as data: which action is allowed from which states, by which roles.

This table is the single answer to "may this person do that now?"; ``core.cases.service`` applies it
before every transition and the staff API lists the actions it allows for a case.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from core.models import CaseStatus, StaffRole

S = CaseStatus
R = StaffRole


class Action(StrEnum):
    ACCEPT = "accept"
    SEND_VERIFY = "send_verify"
    VERIFY = "verify"
    REGISTER = "register"
    VOID = "void"
    DISPATCH = "dispatch"
    RETURN = "return"
    HANDLE = "handle"
    REQUEST_EXTENSION = "request_extension"
    APPROVE_EXTENSION = "approve_extension"
    REJECT_EXTENSION = "reject_extension"
    REQUEST_SUSPENSION = "request_suspension"
    APPROVE_SUSPENSION = "approve_suspension"
    REJECT_SUSPENSION = "reject_suspension"
    RESUME = "resume"
    SEND_CHECK = "send_check"
    CHECK = "check"
    URGE = "urge"
    REOPEN = "reopen"
    MERGE = "merge"

    @property
    def label(self) -> str:
        return ACTION_LABELS[self]


ACTION_LABELS: dict[Action, str] = {
    Action.ACCEPT: "受理",
    Action.SEND_VERIFY: "派发核实",
    Action.VERIFY: "核实反馈",
    Action.REGISTER: "立案",
    Action.VOID: "作废",
    Action.DISPATCH: "派遣",
    Action.RETURN: "回退",
    Action.HANDLE: "处置反馈",
    Action.REQUEST_EXTENSION: "申请延期",
    Action.APPROVE_EXTENSION: "批准延期",
    Action.REJECT_EXTENSION: "驳回延期",
    Action.REQUEST_SUSPENSION: "申请挂账",
    Action.APPROVE_SUSPENSION: "批准挂账",
    Action.REJECT_SUSPENSION: "驳回挂账",
    Action.RESUME: "恢复处置",
    Action.SEND_CHECK: "派发核查",
    Action.CHECK: "核查反馈",
    Action.URGE: "督办",
    Action.REOPEN: "重新办理",
    Action.MERGE: "合并重复案件",
}

STATUS_LABELS: dict[CaseStatus, str] = {
    S.PENDING: "待受理",
    S.VERIFYING: "核实中",
    S.ACCEPTED: "待立案",
    S.REGISTERED: "待派遣",
    S.DISPATCHED: "处置中",
    S.SUSPENDED: "挂账中",
    S.HANDLED: "待核查",
    S.CHECKING: "核查中",
    S.CLOSED: "已结案",
    S.VOIDED: "已作废",
    S.MERGED: "已合并",
}

OPEN_STATUSES = frozenset(set(CaseStatus) - {S.CLOSED, S.VOIDED, S.MERGED})
HANDLING_STATUSES = frozenset({S.DISPATCHED, S.SUSPENDED})
CENTRE = frozenset({R.OPERATOR, R.SHIFT_LEAD})
DISPATCH = frozenset({R.DISPATCHER, R.SHIFT_LEAD})


@dataclass(frozen=True)
class Rule:
    sources: frozenset[CaseStatus]
    roles: frozenset[StaffRole]
    # Who among those roles: "assigned" (the case's supervisor), "department" (the case's
    # department), or "" (any holder of the role within their area).
    scope: str = ""


RULES: dict[Action, Rule] = {
    Action.ACCEPT: Rule(frozenset({S.PENDING}), CENTRE),
    Action.SEND_VERIFY: Rule(frozenset({S.PENDING, S.ACCEPTED}), CENTRE),
    Action.VERIFY: Rule(frozenset({S.VERIFYING}), frozenset({R.SUPERVISOR}), "assigned"),
    Action.REGISTER: Rule(frozenset({S.PENDING, S.ACCEPTED}), CENTRE),
    Action.VOID: Rule(frozenset({S.PENDING, S.VERIFYING, S.ACCEPTED}), CENTRE),
    Action.DISPATCH: Rule(frozenset({S.REGISTERED}), DISPATCH),
    Action.RETURN: Rule(frozenset({S.DISPATCHED}), frozenset({R.HANDLER}), "department"),
    Action.HANDLE: Rule(frozenset({S.DISPATCHED}), frozenset({R.HANDLER}), "department"),
    Action.REQUEST_EXTENSION: Rule(frozenset({S.DISPATCHED}), frozenset({R.HANDLER}), "department"),
    Action.APPROVE_EXTENSION: Rule(frozenset({S.DISPATCHED}), DISPATCH),
    Action.REJECT_EXTENSION: Rule(frozenset({S.DISPATCHED}), DISPATCH),
    Action.REQUEST_SUSPENSION: Rule(frozenset({S.DISPATCHED}), frozenset({R.HANDLER}), "department"),
    Action.APPROVE_SUSPENSION: Rule(frozenset({S.DISPATCHED}), DISPATCH),
    Action.REJECT_SUSPENSION: Rule(frozenset({S.DISPATCHED}), DISPATCH),
    Action.RESUME: Rule(frozenset({S.SUSPENDED}), DISPATCH),
    Action.SEND_CHECK: Rule(frozenset({S.HANDLED}), CENTRE | DISPATCH),
    Action.CHECK: Rule(frozenset({S.CHECKING}), frozenset({R.SUPERVISOR}), "assigned"),
    Action.URGE: Rule(frozenset(OPEN_STATUSES), frozenset({R.LEADER, R.SHIFT_LEAD})),
    Action.REOPEN: Rule(frozenset({S.CLOSED}), frozenset({R.SHIFT_LEAD})),
    Action.MERGE: Rule(frozenset({S.PENDING, S.VERIFYING, S.ACCEPTED, S.REGISTERED}), CENTRE),
}


def allowed_roles(action: Action) -> frozenset[StaffRole]:
    return RULES[action].roles
