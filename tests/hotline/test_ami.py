"""The panoramisk layer of the bridge: parsing what arrives on the socket."""

from __future__ import annotations

import asyncio
from typing import Any

from hotline.ami import AmiConnection, AmiProtocol
from tests.hotline.conftest import run


class _Transport(asyncio.Transport):
    """Enough of a transport for the protocol to parse bytes handed to it."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []

    def write(self, data: Any) -> None:
        self.written.append(bytes(data))

    def close(self) -> None:
        return None

    def abort(self) -> None:
        return None


def test_a_character_split_across_two_reads_is_kept() -> None:
    async def scenario() -> list[dict[str, str]]:
        received: list[dict[str, str]] = []
        connection = AmiConnection(
            host="127.0.0.1",
            port=5038,
            on_event=lambda _manager, message: received.append(dict(message.items())),
            loop=asyncio.get_running_loop(),
        )
        protocol = AmiProtocol(connection)
        protocol.connection_made(_Transport())
        data = "Asterisk Call Manager/7.0.3\r\nEvent: Newchannel\r\nCallerIDName: 城管市民\r\n\r\n".encode()
        cut = data.index("管".encode()) + 1  # in the middle of a three-byte character
        protocol.data_received(data[:cut])
        protocol.data_received(data[cut:])
        return received

    [event] = run(scenario())
    assert event["Event"] == "Newchannel"
    assert event["CallerIDName"] == "城管市民"
