"""Errors a user can cause. The CLI turns each into one `error: ...` line and exit 2."""


class UserError(Exception):
    """A mistake in the user's input (file, option, layout, model folder)."""


class LayoutError(UserError, ValueError):
    """A layout that breaks the rules of DESIGN.md; the message names the field."""


class ImageError(UserError, ValueError):
    """An image that cannot be read or is too large."""


class ModelError(UserError):
    """A model folder or checkpoint that is missing or broken."""
