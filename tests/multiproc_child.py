"""One rank of an N-process scenario (see multiproc.py); scenarios live in shared_scenarios.py."""

from __future__ import annotations

import json
import sys

import shared_scenarios

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

    def exchange(self, address: EndpointAddress) -> list[EndpointAddress]:
        self._send({"addr": str(address)})
        return [EndpointAddress.parse(a) for a in self._recv()["peers"]]

    def barrier(self) -> None:
        self._barrier += 1
        self._send({"barrier": self._barrier})
        msg = self._recv()
        assert msg.get("go") == self._barrier, msg

    def result(self, value: object) -> None:
        self._send({"result": value})


def main() -> None:
    name, rank, size, args = (
        sys.argv[1],
        int(sys.argv[2]),
        int(sys.argv[3]),
        json.loads(sys.argv[4]),
    )
    link = Link()
    fn = getattr(shared_scenarios, name)
    with Endpoint(**args.pop("endpoint", {})) as ep:
        addresses = link.exchange(ep.address)
        result = fn(rank, size, ep, addresses, link, **args)
    link.result(result)


if __name__ == "__main__":
    main()
