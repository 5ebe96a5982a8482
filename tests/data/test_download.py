"""Downloads through pooch against a local HTTP server on 127.0.0.1 (never the internet)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import socket
import threading

import pytest

from nnlab.cli import main
from nnlab.data.download import DATASETS, RemoteFile, download, fetch
from nnlab.data.paths import DataFormatError, DataNotFoundError


@pytest.fixture
def serve(tmp_path):
    """Start a local HTTP server for a folder; yields ``start(folder) -> base URL``."""
    servers = []

    def start(folder) -> str:
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
        handler.log_message = lambda *a, **k: None
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def test_fetch_keeps_a_file_with_the_right_sha256_and_rejects_a_corrupted_one(tmp_path, serve):
    site = tmp_path / "site"
    site.mkdir()
    payload = b"nnlab test payload\n" * 100
    (site / "good.bin").write_bytes(payload)
    (site / "bad.bin").write_bytes(payload[:-1] + b"X")
    digest = hashlib.sha256(payload).hexdigest()
    url = serve(site)
    out = fetch(RemoteFile(f"{url}/good.bin", "good.bin", digest), tmp_path / "dest")
    assert out.read_bytes() == payload
    with pytest.raises(DataFormatError, match="does not have the expected sha256"):
        fetch(RemoteFile(f"{url}/bad.bin", "bad.bin", digest), tmp_path / "dest")
    assert not (tmp_path / "dest" / "bad.bin").exists()


def test_a_file_that_cannot_be_fetched_is_one_data_error_with_what_to_do(tmp_path, serve):
    site = tmp_path / "site"
    site.mkdir()
    url = serve(site)
    with pytest.raises(DataNotFoundError) as info:  # HTTP 404
        fetch(RemoteFile(f"{url}/missing.gz", "missing.gz", "0" * 64), tmp_path / "dest")
    msg = str(info.value)
    assert f"download: cannot fetch {url}/missing.gz" in msg and "404" in msg and "\n" not in msg
    assert "--mirror URL" in msg and f"copy missing.gz into {tmp_path / 'dest'}" in msg
    with socket.socket() as s:  # a port nobody listens on: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DataNotFoundError, match=f"cannot fetch http://127.0.0.1:{port}/x.gz"):
        fetch(RemoteFile(f"http://127.0.0.1:{port}/x.gz", "x.gz", None), tmp_path / "dest")
    assert not list((tmp_path / "dest").glob("*.gz"))


def test_download_rejects_unknown_names_and_every_pinned_hash_is_sha256():
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'"):
        download("imagenet")
    for name, (_, files) in DATASETS.items():
        for f in files:
            assert f.sha256 is None or len(f.sha256) == 64, name
            assert f.url.startswith("https://"), name


@pytest.mark.data
def test_cli_downloads_mnist_from_a_local_mirror_and_refuses_a_corrupted_mirror(data_dir, tmp_path, serve, capsys):
    url = serve(data_dir / "mnist")
    assert main(["data", "download", "mnist", "--dest", str(tmp_path / "ok"), "--mirror", url, "--no-progress"]) == 0
    for f in DATASETS["mnist"][1]:
        assert (tmp_path / "ok" / f.filename).read_bytes() == (data_dir / "mnist" / f.filename).read_bytes()
    bad = tmp_path / "bad_site"
    bad.mkdir()
    for f in (data_dir / "mnist").glob("*.gz"):
        shutil.copy(f, bad / f.name)
    labels = bad / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:-10])  # truncated in transit
    code = main(["data", "download", "mnist", "--dest", str(tmp_path / "bad"), "--mirror", serve(bad),
                 "--no-progress"])
    assert code == 2
    assert "t10k-labels-idx1-ubyte.gz does not have the expected sha256" in capsys.readouterr().err
    assert not (tmp_path / "bad" / "t10k-labels-idx1-ubyte.gz").exists()


@pytest.mark.data
def test_download_of_housing_from_a_local_mirror_checks_the_statlib_name(data_dir, tmp_path, serve):
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(data_dir / "california_housing" / "cal_housing.data", site / "cal_housing.tgz")  # wrong bytes
    with pytest.raises(DataFormatError, match="cal_housing.tgz"):
        download("california_housing", tmp_path / "dest", mirror=serve(site))
