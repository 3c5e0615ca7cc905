"""``taskonomy serve``: the supervision solver (Stage IV) as a web page and a JSON API.

``app`` builds the FastAPI application (tables, queries, figures); ``cli`` runs it with uvicorn;
``static/`` holds the page (HTML, JS, CSS: package data, nothing fetched from the internet).
"""
