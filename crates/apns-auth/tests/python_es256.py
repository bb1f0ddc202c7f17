"""Independent check of apns-auth's provider tokens with Python's `cryptography` and PyJWT.

Usage: python_es256.py DIR
  make-keys      writes DIR/openssl.p8 (cryptography's own PKCS#8 PEM) and DIR/apple.p8 (the same
                 layout as Apple's .p8 files, assembled byte by byte and loaded back by cryptography)
  verify JWT P8  verifies JWT with the public key of P8 twice (cryptography with the raw r||s
                 signature, and PyJWT), prints the header and claims as JSON
  sign P8        prints a token PyJWT signs with P8 (kid ABC123DEFG, iss DEF123GHIJ, iat 1700000000)
"""
import base64
import json
import sys

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

APPLE_PREFIX = bytes.fromhex("308193020100301306072a8648ce3d020106082a8648ce3d030107047930770201010420")
APPLE_MIDDLE = bytes.fromhex("a00a06082a8648ce3d030107a144034200")


def b64url(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def pem(der):
    text = base64.b64encode(der).decode()
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    return "-----BEGIN PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END PRIVATE KEY-----\n"


def load(path):
    with open(path, "rb") as file:
        return serialization.load_pem_private_key(file.read(), password=None)


def main():
    command, rest = sys.argv[1], sys.argv[2:]
    if command == "make-keys":
        directory = rest[0]
        key = ec.generate_private_key(ec.SECP256R1())
        openssl = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        with open(f"{directory}/openssl.p8", "wb") as file:
            file.write(openssl)
        other = ec.generate_private_key(ec.SECP256R1())
        private = other.private_numbers().private_value.to_bytes(32, "big")
        public = other.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        apple = pem(APPLE_PREFIX + private + APPLE_MIDDLE + public)
        reloaded = serialization.load_pem_private_key(apple.encode(), password=None)
        assert reloaded.private_numbers().private_value == other.private_numbers().private_value
        with open(f"{directory}/apple.p8", "w") as file:
            file.write(apple)
        print(json.dumps({"apple_der_len": len(APPLE_PREFIX + private + APPLE_MIDDLE + public)}))
    elif command == "verify":
        token, key_path = rest
        public_key = load(key_path).public_key()
        header, claims, signature = token.split(".")
        raw = b64url(signature)
        assert len(raw) == 64, len(raw)
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        public_key.verify(der, f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
        decoded = jwt.decode(token, public_key, algorithms=["ES256"], options={"verify_iat": False})
        print(json.dumps({"header": json.loads(b64url(header)), "claims": decoded,
                          "pyjwt_header": jwt.get_unverified_header(token)}))
    elif command == "sign":
        print(jwt.encode({"iss": "DEF123GHIJ", "iat": 1700000000}, load(rest[0]), algorithm="ES256",
                         headers={"kid": "ABC123DEFG"}))
    else:
        raise SystemExit(f"unknown command {command}")


main()
