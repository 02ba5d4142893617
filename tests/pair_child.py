"""One side of a two-process scenario (see pairs.py); scenarios live in scenarios.py."""

from __future__ import annotations

import json
import sys

import scenarios

from omx_transport import Endpoint, EndpointAddress


class Link:
    """The child's side of the parent relay."""

    def __init__(self) -> None:
        self._barrier = 0

    def _send(self, obj: dict) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    def _recv(self) -> dict:
        line = sys.stdin.readline()
        if not line:
            raise SystemExit("parent went away")
        return json.loads(line)

    def exchange(self, address: EndpointAddress) -> EndpointAddress:
        self._send({"addr": str(address)})
        return EndpointAddress.parse(self._recv()["peer"])

    def barrier(self) -> None:
        self._barrier += 1
        self._send({"barrier": self._barrier})
        msg = self._recv()
        assert msg.get("go") == self._barrier, msg

    def result(self, value: object) -> None:
        self._send({"result": value})


def main() -> None:
    name, role, args = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
    link = Link()
    fn = getattr(scenarios, name)
    with Endpoint(**args.pop("endpoint", {})) as ep:
        peer_address = link.exchange(ep.address)
        result = fn(role, ep, peer_address, link, **args)
    link.result(result)


if __name__ == "__main__":
    main()
