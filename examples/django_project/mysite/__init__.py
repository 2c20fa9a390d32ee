"""A minimal Django project whose async views keep their data in AsyncJSONDB."""
