"""Discovery, the service list (our active minor categories) and service definitions, JSON and XML."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from core.kit.clock import SHANGHAI, utcnow
from tests.fixtures.cases import City
from tests.open311.conftest import children, error_of, xml_of

SERVICE_FIELDS = ["service_code", "service_name", "description", "metadata", "type", "keywords", "group"]


def test_discovery_json(client: TestClient) -> None:
    response = client.get("/open311/v2/discovery.json")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["changeset", "contact", "key_service", "endpoints"]
    (endpoint,) = body["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith("/open311/v2")
    assert endpoint["type"] == "production"
    assert endpoint["formats"] == ["application/json", "text/xml"]


def test_discovery_xml(client: TestClient) -> None:
    root = xml_of(client.get("/open311/v2/discovery.xml"))
    assert root.tag == "discovery"
    assert children(root) == ["changeset", "contact", "key_service", "endpoints"]
    endpoints = root.find("endpoints")
    assert endpoints is not None
    assert children(endpoints) == ["endpoint"]
    endpoint = endpoints[0]
    assert children(endpoint) == ["specification", "url", "changeset", "type", "formats"]
    formats = endpoint.find("formats")
    assert formats is not None
    assert [f.text for f in formats.findall("format")] == ["application/json", "text/xml"]


def test_services_list_active_minor_categories(client: TestClient, city: City) -> None:
    retired = city.factory.category("SJ0199", "已停用类别")
    retired.active = False
    city.session.add(retired)
    city.session.flush()
    body = client.get("/open311/v2/services.json").json()
    assert [service["service_code"] for service in body] == ["BJ0101", "SJ0102"]
    manhole = body[0]
    assert list(manhole) == SERVICE_FIELDS
    assert manhole["service_name"] == "上水井盖"
    assert manhole["metadata"] is True
    assert manhole["type"] == "realtime"
    assert manhole["group"] == "测试大类"
    assert "部件" in manhole["keywords"]


def test_services_xml(client: TestClient, city: City) -> None:
    root = xml_of(client.get("/open311/v2/services.xml"))
    assert root.tag == "services"
    assert children(root) == ["service", "service"]
    first = root[0]
    assert children(first) == SERVICE_FIELDS
    assert first.findtext("service_code") == "BJ0101"
    assert first.findtext("metadata") == "true"
    assert first.findtext("type") == "realtime"


def test_service_definition_json(client: TestClient, city: City) -> None:
    body = client.get("/open311/v2/services/BJ0101.json").json()
    assert body["service_code"] == "BJ0101"
    (attribute,) = body["attributes"]
    assert list(attribute) == [
        "variable",
        "code",
        "datatype",
        "required",
        "datatype_description",
        "order",
        "description",
        "values",
    ]
    assert attribute["datatype"] == "singlevaluelist"
    assert attribute["required"] is False
    assert [value["key"] for value in attribute["values"]] == ["1", "2"]


def test_service_definition_without_standards_has_no_attributes(client: TestClient, city: City) -> None:
    city.factory.category("SJ0103", "乱堆物料")
    assert client.get("/open311/v2/services/SJ0103.json").json() == {
        "service_code": "SJ0103",
        "attributes": [],
    }
    root = xml_of(client.get("/open311/v2/services/SJ0103.xml"))
    assert root.tag == "service_definition"
    assert children(root) == ["service_code", "attributes"]
    assert children(root[1]) == []


def test_service_definition_xml(client: TestClient, city: City) -> None:
    root = xml_of(client.get("/open311/v2/services/BJ0101.xml"))
    assert root.tag == "service_definition"
    attributes = root.find("attributes")
    assert attributes is not None
    assert children(attributes) == ["attribute"]
    attribute = attributes[0]
    assert attribute.findtext("variable") == "true"
    assert attribute.findtext("code") == "standard"
    values = attribute.find("values")
    assert values is not None
    assert children(values) == ["value", "value"]
    assert children(values[0]) == ["key", "name"]
    assert values[0].findtext("name") == "测试立案条件"


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_unknown_service_is_404(client: TestClient, city: City, fmt: str) -> None:
    response = client.get(f"/open311/v2/services/XX9999.{fmt}")
    assert response.status_code == 404
    code, description = error_of(response, fmt)
    assert code == 404
    assert description.startswith("service_not_found")


def test_major_category_is_not_a_service(client: TestClient, city: City) -> None:
    assert client.get("/open311/v2/services/BJ01.json").status_code == 404


def test_unsupported_format_is_404(client: TestClient) -> None:
    response = client.get("/open311/v2/services.html")
    assert response.status_code == 404
    assert error_of(response, "json")[1].startswith("unsupported_format")


def test_the_changeset_moves_when_services_change(client: TestClient, city: City) -> None:
    """The specification: an updated changeset tells clients to refresh cached services and definitions."""
    before = client.get("/open311/v2/discovery.json").json()["changeset"]
    later = utcnow() + timedelta(days=400)  # past the interface's own date, whatever today is
    city.manhole_urgent.updated_at = later
    city.session.add(city.manhole_urgent)
    city.session.flush()
    body = client.get("/open311/v2/discovery.json").json()
    assert body["changeset"] == later.astimezone(SHANGHAI).replace(microsecond=0).isoformat()
    assert body["changeset"] > before
    assert body["endpoints"][0]["changeset"] == body["changeset"]
