"""Revoke a user's API tokens whenever the password changes.

Django calls ``password_changed`` on every configured password validator each time a user is saved
after ``set_password`` (the change and reset forms, the admin, ``changepassword``, scripts), so a
"validator" that validates nothing is the one hook that sees every path. Other sessions end by
themselves: their stored hash of the password no longer matches (Django's session verification);
the change view keeps the current one (``update_session_auth_hash``).
"""
from django.utils.translation import gettext as _
from knox.models import AuthToken


class RevokeTokensOnPasswordChange:
    """Delete every knox token of a user whose password has just changed."""

    def validate(self, password, user=None):
        return None

    def password_changed(self, password, user=None):
        if user is not None and user.pk is not None:
            AuthToken.objects.filter(user_id=user.pk).delete()

    def get_help_text(self):
        return _("Changing your password signs out your other sessions and revokes your API tokens.")
