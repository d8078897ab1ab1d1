"""Console map: unit grids, the open cases this account may see, toilets and parking.

The page is a Leaflet map filled by ``static/map.js`` from three GeoJSON endpoints (JSON answers, also
for errors: ``{"code", "message"}`` with 422 for a bad bbox or filter). All coordinates are WGS-84;
see docs/console-map.md for tile sources and the GCJ-02 caveat.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from admin.deps import SessionDep, SettingsDep, StaffDep
from admin.templating import render
from core.cases import repository as cases_repository
from core.cases.workflow import STATUS_LABELS
from core.geo import features
from core.geo.features import InvalidMapQuery

router = APIRouter()

MIN_ZOOM, MAX_ZOOM = 3, 19  # as map.js sets them

# Marker colours by stage (map.css has the same ones); overdue cases are red whatever their stage.
STAGE_COLOURS = {
    "pending": "#7b1fa2",
    "verifying": "#5c6bc0",
    "accepted": "#1565c0",
    "registered": "#00838f",
    "dispatched": "#ef6c00",
    "suspended": "#757575",
    "handled": "#2e7d32",
    "checking": "#558b2f",
}


def _problem(exc: InvalidMapQuery) -> JSONResponse:
    return JSONResponse({"code": exc.code, "message": exc.message}, status_code=422)


def _geojson(body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, media_type="application/geo+json", headers=headers)


def _view(center: str, zoom: str) -> tuple[str, str]:
    """An optional starting view (``?center=lng,lat&zoom=17``, e.g. "show on map"); ignored when invalid."""
    try:
        lng, lat = (float(part) for part in center.split(","))
        level = int(zoom) if zoom else 17
    except ValueError:
        return "", ""
    if not (-180 <= lng <= 180 and -90 <= lat <= 90 and MIN_ZOOM <= level <= MAX_ZOOM):
        return "", ""
    return f"{lng:.6f},{lat:.6f}", str(level)


@router.get("/map", response_class=HTMLResponse, name="map")
def map_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: StaffDep,
    center: str = "",
    zoom: str = "",
) -> HTMLResponse:
    layers = features.grid_layers(session)
    view_center, view_zoom = _view(center[:64], zoom[:4])
    area = cases_repository.area_code(session, user.area_id)
    bounds = layers.bounds_of(area) or layers.bounds_of(None)
    return render(
        request,
        "map/index.html",
        {
            "title": "地图",
            "stages": [(s.value, STATUS_LABELS[s], STAGE_COLOURS[s.value]) for s in features.MAP_STAGES],
            "categories": features.category_options(session),
            "bounds": ",".join(f"{value:.6f}" for value in bounds) if bounds else "",
            "center": view_center,
            "zoom": view_zoom,
            "unit_min_zoom": features.UNIT_MIN_ZOOM,
            "case_base": f"{request.scope.get('root_path', '')}/cases/",
            "tile_url": settings.console.map_tile_url,
            "tile_attribution": settings.console.map_tile_attribution,
        },
    )


def _answer(build: Callable[[], Response]) -> Response:
    try:
        return build()
    except InvalidMapQuery as exc:
        return _problem(exc)


@router.get("/map/data/grids", name="map_grids")
def grid_data(request: Request, session: SessionDep, user: StaffDep) -> Response:
    """Unit grids when zoomed in, responsibility-grid or community outlines otherwise; ETag on the data."""

    def build() -> Response:
        box = features.parse_bbox(request.query_params.get("bbox"))
        zoom = features.parse_zoom(request.query_params.get("zoom"))
        query = [
            ("bbox", f"{box.min_lng},{box.min_lat},{box.max_lng},{box.max_lat}"),
            ("zoom", str(zoom)),
        ]
        etag = features.grid_etag(session, query)
        headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
        if etag in {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}:
            return Response(status_code=304, headers=headers)
        return _geojson(features.grid_features(session, box, zoom), headers)

    return _answer(build)


@router.get("/map/data/cases", name="map_cases")
def case_data(request: Request, session: SessionDep, user: StaffDep) -> Response:
    """Open cases this account may see in the box (never cached: they change all the time)."""

    def build() -> Response:
        params = request.query_params
        box = features.parse_bbox(params.get("bbox"))
        where = features.parse_case_filter(
            params.getlist("status"), params.get("category", ""), params.get("overdue", "")
        )
        return _geojson(features.case_features(session, user, box, where))

    return _answer(build)


@router.get("/map/data/places", name="map_places")
def place_data(request: Request, session: SessionDep, user: StaffDep) -> Response:
    """Active toilets and parking lots in the box (``kind`` repeated to choose)."""

    def build() -> Response:
        box = features.parse_bbox(request.query_params.get("bbox"))
        kinds = features.parse_kinds(request.query_params.getlist("kind"))
        return _geojson(features.place_features(session, box, kinds))

    return _answer(build)
