"""A small, fixed demo catalogue: the same rows every time, so seeding twice changes nothing."""

from __future__ import annotations

from typing import Any

_PLACES = (
    "Harbour",
    "Old Town",
    "Lighthouse",
    "Pine Forest",
    "Glacier",
    "Night Market",
    "Tram Line",
    "Salt Flats",
    "Rooftops",
    "Waterfall",
    "Orchard",
    "Canyon",
)
_MOMENTS = ("at Dawn", "in the Rain", "at Dusk")
_PLAYLISTS = ("coast", "city", "wild")


def demo_videos() -> list[dict[str, Any]]:
    videos = []
    for index in range(len(_PLACES) * len(_MOMENTS)):
        place = _PLACES[index % len(_PLACES)]
        moment = _MOMENTS[index // len(_PLACES)]
        video_id = f"DEMO{index + 1:08d}"
        is_shorts = index % 5 == 4
        videos.append(
            {
                "id": video_id,
                "title": f"{place} {moment}",
                "filename": f"{video_id}.mp4",
                "length": 45 if is_shorts else 90 + (index * 37) % 1100,
                "has_thumbnail": index % 4 != 3,
                "views": (index * 7919) % 25_000,
                "is_shorts": is_shorts,
                "playlist": _PLAYLISTS[index % len(_PLAYLISTS)],
            }
        )
    return videos
