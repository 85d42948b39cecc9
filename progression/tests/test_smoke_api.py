def test_checkin_first_day_returns_state(auth_client, user):
    response = auth_client.post("/api/v1/checkins/")
    assert response.status_code == 201, response.content
    assert response.json()["state"]["energy"] == 70
