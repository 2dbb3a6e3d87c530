from webui import create_app


def test_health_check():
    client = create_app({"TESTING": True}).test_client()
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.get_json()["status"] == "ok"
