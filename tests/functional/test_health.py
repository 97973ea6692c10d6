def test_health_answers_without_the_database(make_app):
    app = make_app(DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/none")
    response = app.test_client().get("/api/health")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
