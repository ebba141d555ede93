"""Shared by the security app and its tests; importing the app itself would configure logging
in the test process."""

TOKEN = "tok-7f3a9c-very-secret"  # what a real app would look up in its session store
ALLOWED_ORIGINS = ["https://app.example.com"]
