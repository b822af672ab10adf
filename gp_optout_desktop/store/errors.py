"""Errors the store raises; each message is a sentence a user can act on."""


class StoreError(Exception):
    """Base class: the register could not be opened, read or written."""


class WrongPassword(StoreError):
    pass


class KeyDamaged(StoreError):
    """The password was right (its check value matches) but the wrapped key fails
    authentication: the key file is damaged. Not a wrong password; not throttled."""


class RecordNotCertified(StoreError):
    """A user record (name, role, active) differs from its certificate signed by the manager key."""


class Throttled(StoreError):
    def __init__(self, message: str, retry_at):
        super().__init__(message)
        self.retry_at = retry_at


class RegisterCorrupt(StoreError):
    """The file decrypts with the right key but fails its checks: corrupt or tampered."""


class UnsafeLocation(StoreError):
    """A network share: SQLite's locking and WAL are unsafe there."""


class NewerSchema(StoreError):
    pass


class NotFound(StoreError):
    pass


class Conflict(StoreError):
    """E.g. a duplicate NHS number."""


class RegisterBehind(RegisterCorrupt):
    """The register holds fewer changes than its seal says were saved: acknowledged changes were lost."""


class ServerUnreachable(StoreError):
    """Server mode: the database server could not be reached (network, server down). Nothing
    was written anywhere: a desk never falls back to a local register."""


class ServerRefused(StoreError):
    """Server mode: the connection was refused for security (TLS not verified, a sign-in weaker
    than SCRAM, a weak sslmode asked for): nothing was sent or written."""
