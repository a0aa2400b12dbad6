#!/usr/bin/env python3
"""Write a throw-away Google-style service-account key file for tests.

    regress/make_sa_key.py --token-uri URL --email EMAIL --out KEY.json [--project-id ID]

Generates a fresh 2048-bit RSA key with `openssl genpkey` (PKCS#8 PEM, "BEGIN PRIVATE KEY")
and writes the JSON layout Google's console downloads: type, project_id, private_key_id,
private_key, client_email, client_id, auth_uri, token_uri, auth_provider_x509_cert_url,
client_x509_cert_url, universe_domain. The file is created with mode 0600. Point
--token-uri at the emulator (http://127.0.0.1:PORT/token) and start the emulator with
--service-account KEY.json so that it knows the key.

Keys are for tests only: generate them at run time into a temporary directory and never
commit one.
"""

import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from urllib.parse import quote


def generate_pem():
    """A new RSA-2048 private key as PKCS#8 PEM text."""
    if shutil.which("openssl") is None:
        sys.exit("make_sa_key: the openssl command is needed (Debian package openssl)")
    proc = subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    pem = proc.stdout.decode("ascii", "replace")
    if proc.returncode != 0 or "-----BEGIN PRIVATE KEY-----" not in pem:
        sys.exit("make_sa_key: openssl genpkey failed: %s" % proc.stderr.decode(errors="replace").strip())
    return pem


def key_document(email, token_uri, pem, project_id=None):
    if project_id is None:
        m = re.fullmatch(r"[^@]+@([a-z][a-z0-9-]{4,28}[a-z0-9])\.iam\.gserviceaccount\.com", email)
        project_id = m.group(1) if m else "luxe-test"
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": email,
        "client_id": str(10 ** 20 + secrets.randbelow(9 * 10 ** 20)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/" + quote(email, safe=""),
        "universe_domain": "googleapis.com",
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--token-uri", required=True, help="token_uri, e.g. http://127.0.0.1:PORT/token")
    parser.add_argument("--email", required=True, help="client_email, e.g. fdw@luxe-test.iam.gserviceaccount.com")
    parser.add_argument("--out", required=True, help="file to write (mode 0600)")
    parser.add_argument("--project-id", help="project_id (default: from the email's domain, else luxe-test)")
    args = parser.parse_args()

    doc = key_document(args.email, args.token_uri, generate_pem(), args.project_id)
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)  # the PEM's newlines become \n escapes
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
