"""The profile page: name, contact details, password, notification channels and API tokens."""
from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.forms import PasswordChangeForm
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from ..fieldtypes import PHONE_RE
from .base import CabinetView, LoginRequired, render
from .params import NUL


class ProfileForm(forms.Form):
    first_name = forms.CharField(label=_lazy("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_lazy("Last name"), max_length=150, required=False)
    email = forms.EmailField(label=_lazy("Email"), required=False)
    phone = forms.RegexField(label=_lazy("Phone"), regex=PHONE_RE, max_length=32, required=False)


class ProfileView(CabinetView):
    """The user's own name, contact details, password, language, notification channels and API tokens."""

    def get(self, request):
        if not request.user.is_authenticated:
            raise LoginRequired
        return self.show(ProfileForm(initial=self.details_of(request.user)), PasswordChangeForm(request.user))

    @staticmethod
    def details_of(user):
        from ..models import UserPreference

        prefs = UserPreference.objects.filter(user=user).first()
        return {"first_name": user.first_name, "last_name": user.last_name, "email": user.email,
                "phone": prefs.phone if prefs else ""}

    def post(self, request):
        if not request.user.is_authenticated:
            raise LoginRequired
        from knox.models import AuthToken

        from ..models import UserPreference

        user = request.user
        details, password = ProfileForm(initial={}), PasswordChangeForm(user)
        status = 200
        if "save_details" in request.POST:
            details = ProfileForm(request.POST)
            if details.is_valid():
                data = dict(details.cleaned_data)
                UserPreference.objects.update_or_create(user=user, defaults={"phone": data.pop("phone")})
                for key, value in data.items():
                    setattr(user, key, value)
                user.save(update_fields=list(data))
                messages.success(request, _("Saved."))
                return redirect("profile")
            status = 400
        elif "change_password" in request.POST:
            password = PasswordChangeForm(user, request.POST)
            if password.is_valid():
                password.save()
                update_session_auth_hash(request, password.user)
                messages.success(request, _("Your password was changed."))
                return redirect("profile")
            status = 400
        elif "save_notifications" in request.POST:
            prefs, _created = UserPreference.objects.get_or_create(user=user)
            prefs.channels = [c for c in request.POST.getlist("channels") if c in dict(UserPreference.CHANNELS)]
            prefs.save(update_fields=["channels"])
            messages.success(request, _("Saved."))
            return redirect("profile")
        elif "new_token" in request.POST:
            _instance, token = AuthToken.objects.create(user)
            messages.success(request, _("New API token (shown once): %(token)s") % {"token": token})
            return redirect("profile")
        elif "revoke_token" in request.POST:
            key = request.POST.get("revoke_token", "")
            if NUL not in key:  # PostgreSQL refuses NUL in strings; no token holds one
                AuthToken.objects.filter(user=user, token_key=key).delete()
            messages.success(request, _("Token revoked."))
            return redirect("profile")
        if status == 400 and not details.is_bound:
            details = ProfileForm(initial=self.details_of(user))
        return self.show(details, password, status)

    def show(self, details, password, status=200):
        from knox.models import AuthToken

        from ..models import UserPreference

        prefs = UserPreference.objects.filter(user=self.request.user).first()
        context = self.context(
            None, details=details, password=password, page_title=_("Profile"),
            channels=[(key, name, key in (prefs.channels if prefs else ["email"]))
                      for key, name in UserPreference.CHANNELS],
            tokens=AuthToken.objects.filter(user=self.request.user).order_by("-created"),
        )
        return render(self.request, self.built, "profile.html", context, status=status)
