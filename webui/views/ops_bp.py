"""The headquarters' blueprint, shared by the dashboard (``ops``) and administration
(``ops_admin``): each module declares its routes on it with decorators."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("ops", __name__, url_prefix="/ops")
