"""Who may do what. Enforced by the service layer; the UI only hides what is refused anyway.

National RBAC equivalents: receptionist ~ R8009, GP ~ R8000 (Clinical Practitioner),
practice manager ~ R0001 (Privacy Officer) in this application.
"""

from __future__ import annotations

from .errors import ValidationError

RECEPTIONIST = "receptionist"
GP = "gp"
MANAGER = "manager"
ROLES = (RECEPTIONIST, GP, MANAGER)
ROLE_LABELS = {RECEPTIONIST: "Receptionist", GP: "GP", MANAGER: "Practice manager"}

_DESK = frozenset(
    {
        "search",
        "view_patient",
        "add_patient",
        "edit_patient",
        "record_objection",
        "record_withdrawal",
        "record_include",
        "mark_coded",
        "queue_letter",
        "signpost_ndoo",
        "view_letters",
        "view_coding",
        "change_own_password",
    }
)
_MANAGER_ONLY = frozenset(
    {
        "print_letters",
        "edit_templates",
        "import_objections",
        "import_practice_list",
        "export",
        "manage_users",
        "view_audit",
        "backup",
        "restore",
        "settings",
        "rekey",
        "coding_worklist",
        "reconcile",
        "edit_codes",
    }
)

PERMISSIONS: dict[str, frozenset[str]] = {
    RECEPTIONIST: _DESK,
    GP: _DESK | {"practice_optout"},
    MANAGER: _DESK | _MANAGER_ONLY,
}
ALL_ACTIONS = frozenset().union(*PERMISSIONS.values())

ACTION_LABELS = {
    "practice_optout": "apply or lift the practice-wide opt-out",
    "print_letters": "print letters",
    "edit_templates": "edit letter templates",
    "import_objections": "import objections from the clinical system",
    "import_practice_list": "import the practice's patient list",
    "export": "write the exclusion file",
    "manage_users": "manage users",
    "view_audit": "view the audit trail",
    "backup": "back up the register",
    "restore": "restore the register",
    "settings": "change practice settings",
    "rekey": "re-key the register",
    "view_coding": "view the coding worklist",
    "coding_worklist": "export or print the coding worklist",
    "reconcile": "reconcile the register with the clinical system",
    "edit_codes": "correct the objection code table",
}


class PermissionDenied(PermissionError):
    pass


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValidationError(f"Unknown role '{role}': one of {', '.join(ROLES)}.", "role")
    return role


def allowed(role: str, action: str) -> bool:
    return action in PERMISSIONS.get(role, frozenset())


def require(role: str, action: str) -> None:
    if not allowed(role, action):
        what = ACTION_LABELS.get(action, action.replace("_", " "))
        who = ROLE_LABELS.get(role, role)
        raise PermissionDenied(f"A {who.lower()} may not {what}.")
