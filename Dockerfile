# Production image: gunicorn for the web, the same image runs the Celery worker and beat (see compose.yaml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DJANGO_ENV=production \
    DATA_DIR=/data \
    PROMETHEUS_MULTIPROC_DIR=/metrics \
    STATIC_ROOT=/app/staticfiles

WORKDIR /app
COPY . .
RUN pip install -c constraints.txt -e .

# collectstatic needs settings but no real secrets; these throwaway values live only in this build step.
RUN DJANGO_SECRET_KEY=collectstatic-only ALLOWED_HOSTS=localhost DATA_DIR=/tmp/build-data \
    PROMETHEUS_MULTIPROC_DIR=/tmp/build-data/metrics \
    ENCRYPTION_KEYS="$(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
    python manage.py collectstatic --noinput

RUN useradd --system --uid 10001 --home-dir /app webadmit \
    && mkdir -p /data /metrics && chown webadmit /data /metrics && chmod 700 /data
USER webadmit
VOLUME ["/data", "/metrics"]
EXPOSE 8000

CMD ["gunicorn", "webadmit_dash.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4", "--access-logfile", "-"]
