"""The API for scripts (`/api/v1/`, django-ninja) and the API tokens that open it."""
