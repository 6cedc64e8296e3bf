"""Account pages: login, logout, password change and e-mail reset, two-factor enrolment and check.

Django's own views, with the solution theme's templates (falling back to the default theme's).
"""
from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.cache import cache
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import FormView
from django_otp import login as otp_login

from . import twofactor
from .ip import client_ip


class ThemedMixin:
    """Look the template up in the theme first, then in the default theme."""

    theme = "default"
    template = ""

    def get_template_names(self):
        return [f"{self.theme}/registration/{self.template}", f"default/registration/{self.template}"]

    def get_context_data(self, **kwargs):
        from ..pages.intro import welcome_context

        return {**super().get_context_data(**kwargs), **welcome_context(self.request)}


class LoginView(ThemedMixin, auth_views.LoginView):
    template = "login.html"
    redirect_authenticated_user = True


class PasswordChangeView(ThemedMixin, auth_views.PasswordChangeView):
    template = "password_change_form.html"
    success_url = reverse_lazy("password_change_done")


class PasswordChangeDoneView(ThemedMixin, auth_views.PasswordChangeDoneView):
    template = "password_change_done.html"


class PasswordResetView(ThemedMixin, auth_views.PasswordResetView):
    """Send a reset link; at most ``CABINET_PASSWORD_RESETS_PER_HOUR`` requests per client address, so
    the form cannot be used to flood someone's mailbox."""

    template = "password_reset_form.html"
    email_template_name = "default/registration/password_reset_email.txt"
    subject_template_name = "default/registration/password_reset_subject.txt"
    success_url = reverse_lazy("password_reset_done")

    def post(self, request, *args, **kwargs):
        key = f"cabinet:password-reset:{client_ip(request)}"
        cache.add(key, 0, timeout=3600)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=3600)
            count = 1
        if count > settings.CABINET_PASSWORD_RESETS_PER_HOUR:
            return TemplateResponse(request, "default/registration/locked_out.html", {
                "message": _("Too many password reset requests from your address. Try again in an hour.")},
                status=429, headers={"Retry-After": "3600"})
        return super().post(request, *args, **kwargs)


class PasswordResetDoneView(ThemedMixin, auth_views.PasswordResetDoneView):
    template = "password_reset_done.html"


class PasswordResetConfirmView(ThemedMixin, auth_views.PasswordResetConfirmView):
    template = "password_reset_confirm.html"
    success_url = reverse_lazy("password_reset_complete")


class PasswordResetCompleteView(ThemedMixin, auth_views.PasswordResetCompleteView):
    template = "password_reset_complete.html"


class CodeForm(forms.Form):
    code = forms.CharField(label=gettext_lazy("Code from your authenticator app"), max_length=12,
                           widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric",
                                                         "autofocus": True}))


class TwoFactorView(LoginRequiredMixin, ThemedMixin, FormView):
    """Enrol a TOTP device (otpauth URI and QR code) or type a code from the enrolled one."""

    template = "two_factor.html"
    form_class = CodeForm

    def next_url(self):
        url = self.request.POST.get("next") or self.request.GET.get("next") or "/"
        safe = url_has_allowed_host_and_scheme(url, allowed_hosts={self.request.get_host()},
                                               require_https=self.request.is_secure())
        return url if safe else "/"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        device = twofactor.confirmed_device(user)
        context.update(next=self.next_url(), enrolled=device is not None,
                       verified=user.is_verified())
        if device is None:
            device = twofactor.enrolment_device(user)
            uri = device.config_url
            context.update(otpauth_uri=uri, qr_svg=twofactor.qr_svg(uri),
                           secret=uri.split("secret=", 1)[1].split("&", 1)[0])
        return context

    def form_valid(self, form):
        user = self.request.user
        code = form.cleaned_data["code"].strip().replace(" ", "")
        device = twofactor.confirmed_device(user)
        if device is None:
            device = twofactor.enrolment_device(user)
            if code.isdigit() and device.verify_token(code):
                device.confirmed = True
                device.save(update_fields=["confirmed"])
            else:
                device = None
        elif not device.verify_is_allowed()[0]:
            form.add_error("code", _("Too many wrong codes: wait a few seconds, then try again."))
            return self.form_invalid(form)
        else:
            device = twofactor.check_code(user, code)
        if device is None:
            form.add_error("code", _("This code is not valid. Check the time on your phone and try again."))
            return self.form_invalid(form)
        otp_login(self.request, device)
        return redirect(self.next_url())
