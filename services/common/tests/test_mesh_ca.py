"""The mesh CA: what a certificate names, how long it lasts, where its key is kept, and that a
certificate from another CA is refused — by the loader and by a real TLS handshake."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import stat

import grpc
import pytest
from cryptography import x509

from stratos.common import mesh_ca
from stratos.common.errors import ConfigError
from stratos.common.grpcutil import check_health, start_server
from stratos.common.tls import MeshTLS, PeerIdentity, is_service, peer_identity

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _sans(cert_pem: bytes) -> x509.SubjectAlternativeName:
    cert = x509.load_pem_x509_certificate(cert_pem)
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value


def test_a_certificate_names_its_role_process_and_addresses():
    ca = mesh_ca.new_authority(now=NOW)
    issued = mesh_ca.issue(
        ca, "storage", "storage-1", dns_names=["localhost", "storage-1.storage.ns.svc"], now=NOW
    )
    sans = _sans(issued.cert_pem)
    assert sans.get_values_for_type(x509.UniformResourceIdentifier) == [
        "stratos://mesh/storage/storage-1"
    ]
    assert set(sans.get_values_for_type(x509.DNSName)) == {"localhost", "storage-1.storage.ns.svc"}
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert mesh_ca.problem_with(issued.cert_pem, ca.cert_pem, now=NOW) is None


def test_certificates_expire_and_never_outlive_their_ca():
    ca = mesh_ca.new_authority(now=NOW, valid=dt.timedelta(days=100))
    issued = mesh_ca.issue(ca, "index", "index", now=NOW)
    cert = x509.load_pem_x509_certificate(issued.cert_pem)
    assert cert.not_valid_after_utc == NOW + dt.timedelta(days=100)
    later = NOW + dt.timedelta(days=101)
    assert "not valid now" in mesh_ca.problem_with(issued.cert_pem, ca.cert_pem, now=later)
    assert mesh_ca.problem_with(issued.cert_pem, ca.cert_pem, now=NOW) is None


def test_a_certificate_from_another_ca_is_refused():
    ours, theirs = mesh_ca.new_authority(), mesh_ca.new_authority()
    stranger = mesh_ca.issue(theirs, "index", "index")
    assert mesh_ca.problem_with(stranger.cert_pem, ours.cert_pem) == "was not issued by the mesh CA"


def test_unknown_roles_and_foreign_uris_name_nobody():
    with pytest.raises(ValueError):
        mesh_ca.identity_uri("admin", "x")
    assert mesh_ca.parse_identity_uri("stratos://mesh/admin/x") is None
    assert mesh_ca.parse_identity_uri("spiffe://mesh/index/x") is None
    assert mesh_ca.parse_identity_uri("stratos://mesh/index/index-1") == ("index", "index-1")


def test_files_are_private_made_once_and_reused(tmp_path):
    d = tmp_path / "tls"
    ca = mesh_ca.ensure_authority(d)
    files = mesh_ca.ensure_certificate(d, ca, "storage", "storage-1")
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    for f in (d / "ca.key", d / "ca.pem", files.cert_file, files.key_file):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    first = files.cert_file.read_bytes()
    assert mesh_ca.ensure_authority(d) == ca
    assert mesh_ca.ensure_certificate(d, ca, "storage", "storage-1").cert_file.read_bytes() == first


def test_a_certificate_is_renewed_near_expiry_or_when_it_lacks_a_name(tmp_path):
    ca = mesh_ca.ensure_authority(tmp_path)
    files = mesh_ca.ensure_certificate(tmp_path, ca, "storage", "s1")
    first = files.cert_file.read_bytes()
    late = dt.datetime.now(dt.UTC) + mesh_ca.CERT_VALID - dt.timedelta(days=10)
    mesh_ca.ensure_certificate(tmp_path, ca, "storage", "s1", now=late)
    renewed = files.cert_file.read_bytes()
    assert renewed != first
    mesh_ca.ensure_certificate(tmp_path, ca, "storage", "s1", dns_names=["s1.svc"])
    assert "s1.svc" in _sans(files.cert_file.read_bytes()).get_values_for_type(x509.DNSName)


def test_a_damaged_ca_is_refused_not_replaced(tmp_path):
    mesh_ca.ensure_authority(tmp_path)
    (tmp_path / "ca.pem").write_bytes(b"garbage")
    with pytest.raises(ConfigError, match="is not a PEM certificate"):
        mesh_ca.ensure_authority(tmp_path)
    (tmp_path / "ca.pem").unlink()
    with pytest.raises(ConfigError, match="incomplete"):
        mesh_ca.ensure_authority(tmp_path)


def test_loading_bad_files_is_one_sentence_naming_the_variable(tmp_path):
    ca = mesh_ca.ensure_authority(tmp_path / "a")
    files = mesh_ca.ensure_certificate(tmp_path / "a", ca, "index", "index")
    other = mesh_ca.ensure_authority(tmp_path / "b")
    foreign = mesh_ca.ensure_certificate(tmp_path / "b", other, "index", "index")
    assert MeshTLS.from_cert_files(files).identity() == PeerIdentity("index", "index")
    cases = [
        ((tmp_path / "missing.pem", files.cert_file, files.key_file), "STRATOS_TLS_CA_FILE"),
        (("", files.cert_file, files.key_file), "STRATOS_TLS_CA_FILE is not set"),
        ((files.key_file, files.cert_file, files.key_file), "STRATOS_TLS_CA_FILE"),
        ((files.ca_file, foreign.cert_file, files.key_file), "not issued by the mesh CA"),
        ((files.ca_file, files.cert_file, foreign.key_file), "STRATOS_TLS_KEY_FILE"),
    ]
    for args, expected in cases:
        with pytest.raises(ConfigError, match=expected) as err:
            MeshTLS.from_files(*args)
        assert "\n" not in err.value.message


class _Who:
    """A service (`/test.Who/Call`, raw bytes) that records who called."""

    def __init__(self) -> None:
        self.peers: list[PeerIdentity | None] = []

    async def call(self, request: bytes, context) -> bytes:
        self.peers.append(peer_identity(context))
        return b"ok"

    def register(self, server: grpc.aio.Server) -> None:
        handler = grpc.unary_unary_rpc_method_handler(self.call)
        server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler("test.Who", {"Call": handler})]
        )


def test_over_a_real_handshake_only_the_mesh_ca_is_trusted_both_ways(tmp_path):
    """A server with a mesh certificate accepts a caller holding another one and sees who it
    is; a caller from another CA, a caller with no certificate, a plaintext caller, and a
    caller that does not trust the mesh CA all fail."""
    ca = mesh_ca.ensure_authority(tmp_path / "mesh")
    server_tls = MeshTLS.from_cert_files(
        mesh_ca.ensure_certificate(tmp_path / "mesh", ca, "storage", "storage-1")
    )
    index = MeshTLS.from_cert_files(
        mesh_ca.ensure_certificate(tmp_path / "mesh", ca, "index", "ix")
    )
    client = MeshTLS.from_cert_files(
        mesh_ca.ensure_certificate(tmp_path / "mesh", ca, "client", "client")
    )
    other_ca = mesh_ca.ensure_authority(tmp_path / "other")
    stranger = MeshTLS.from_cert_files(
        mesh_ca.ensure_certificate(tmp_path / "other", other_ca, "index", "ix")
    )

    async def main() -> None:
        who = _Who()
        running = await start_server(
            "127.0.0.1:0",
            who.register,
            ["test.Who"],
            credentials=server_tls.server_credentials(),
            health_address="127.0.0.1:0",
        )
        address = f"127.0.0.1:{running.port}"

        async def call(creds: grpc.ChannelCredentials) -> grpc.StatusCode:
            async with grpc.aio.secure_channel(address, creds) as ch:
                try:
                    await ch.unary_unary("/test.Who/Call")(b"", timeout=5)
                except grpc.aio.AioRpcError as err:
                    return err.code()
                return grpc.StatusCode.OK

        try:
            assert await call(index.channel_credentials()) == grpc.StatusCode.OK
            assert await call(client.channel_credentials()) == grpc.StatusCode.OK
            assert who.peers == [PeerIdentity("index", "ix"), PeerIdentity("client", "client")]
            assert is_service(who.peers[0]) and not is_service(who.peers[1])
            refused = [
                stranger.channel_credentials(),  # a certificate from another CA
                grpc.ssl_channel_credentials(server_tls.ca_pem),  # no client certificate
                grpc.ssl_channel_credentials(  # does not trust the mesh CA
                    stranger.ca_pem, client.key_pem, client.cert_pem
                ),
            ]
            for creds in refused:
                assert await call(creds) == grpc.StatusCode.UNAVAILABLE
            async with grpc.aio.insecure_channel(address) as ch:  # plaintext
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await ch.unary_unary("/test.Who/Call")(b"", timeout=5)
                assert err.value.code() == grpc.StatusCode.UNAVAILABLE
            # the probes' port: plaintext, the health service alone
            assert await check_health(f"127.0.0.1:{running.health_port}", None)
            assert await check_health(address, client.channel_credentials())
            assert len(who.peers) == 2  # refused callers never reached the service
        finally:
            await running.stop(0)

    asyncio.run(main())
