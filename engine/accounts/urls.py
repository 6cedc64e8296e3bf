"""URL patterns of the account pages (served by the root URLconf and by every version's)."""
from django.contrib.auth import views as auth_views
from django.urls import path

from ..language import set_language
from . import views


def account_urls(theme="default"):
    """The account URLs, with ``theme``'s templates."""
    themed = {"theme": theme}
    return [
        path("accounts/login/", views.LoginView.as_view(**themed), name="login"),
        path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
        path("accounts/password_change/", views.PasswordChangeView.as_view(**themed), name="password_change"),
        path("accounts/password_change/done/", views.PasswordChangeDoneView.as_view(**themed),
             name="password_change_done"),
        path("accounts/password_reset/", views.PasswordResetView.as_view(**themed), name="password_reset"),
        path("accounts/password_reset/done/", views.PasswordResetDoneView.as_view(**themed),
             name="password_reset_done"),
        path("accounts/reset/<uidb64>/<token>/", views.PasswordResetConfirmView.as_view(**themed),
             name="password_reset_confirm"),
        path("accounts/reset/done/", views.PasswordResetCompleteView.as_view(**themed),
             name="password_reset_complete"),
        path("accounts/two-factor/", views.TwoFactorView.as_view(**themed), name="two_factor"),
        path("i18n/setlang/", set_language, name="set_language"),  # saved as the user's language too
    ]
