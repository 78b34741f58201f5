"""The local mesh has one CA: the NATS server's certificate is issued by the mesh CA that gRPC
uses (`meshtls`), and a mesh whose NATS had a CA of its own gets a certificate from the mesh
CA, which a running nats-server must reload."""

from __future__ import annotations

from stratos.common.mesh_ca import problem_with
from stratos.common.nats_mesh import NatsSecurity
from stratos.sdk import meshnats, meshtls


def test_the_nats_server_certificate_comes_from_the_mesh_ca(home):
    meshtls.issue_local(home, [])
    ca_dir = meshtls.tls_dir(home)
    assert meshnats.secure(home.run_dir, [], ca_dir)  # made: a running server would reload
    files = meshnats.security(home.run_dir, ca_dir).tls()
    assert files.ca_file == ca_dir / "ca.pem"
    assert problem_with(files.cert_file.read_bytes(), files.ca_file.read_bytes()) is None
    assert not (home.run_dir / "nats-auth" / "tls" / "ca.pem").exists()  # no second CA
    assert not meshnats.secure(home.run_dir, [], ca_dir)  # kept, nothing to reload


def test_a_certificate_from_an_older_nats_only_ca_is_issued_again_by_the_mesh_ca(home):
    old = NatsSecurity(home.run_dir / "nats-auth").tls()  # the layout before one mesh CA
    meshtls.issue_local(home, [])
    ca_dir = meshtls.tls_dir(home)
    assert meshnats.secure(home.run_dir, [], ca_dir)  # issued again: the server must reload
    mesh_ca = (ca_dir / "ca.pem").read_bytes()
    assert problem_with(old.cert_file.read_bytes(), mesh_ca) is None  # same file, new issuer
