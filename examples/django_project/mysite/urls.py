"""The example's routes: a small JSON API over the ``users`` collection."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("users/", views.users),
    path("users/<str:user_id>/", views.user_detail),
    path("users/<str:user_id>/visits/", views.user_visits),
]
