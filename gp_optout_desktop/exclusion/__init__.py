"""The exclusion file: whose GP data must not leave the practice. No Qt; importable by the
practice system's own scripts. Specification: docs/exclusion-file.md.

    from gp_optout_desktop.exclusion import read_export, load_public_key
    exset = read_export(folder, load_public_key("register-public.pem"), practice_ods="F84003",
                        state_path="consult-state.json")   # both required: no default skips a check
    exset.may_extract(nhs)   # read_export raises ExclusionSetError on any doubt instead
"""

from .consult import ConsultResult, filter_candidates
from .errors import ExclusionError, ExclusionSetError, ExportError
from .format import FORMAT_VERSION, Manifest
from .reader import ExclusionSet, load_public_key, read_export
from .writer import ExportResult, write_export

__all__ = [
    "FORMAT_VERSION",
    "ConsultResult",
    "ExclusionError",
    "ExclusionSet",
    "ExclusionSetError",
    "ExportError",
    "ExportResult",
    "Manifest",
    "filter_candidates",
    "load_public_key",
    "read_export",
    "write_export",
]
