"""The PKI explains its own health: verify a folder, inspect a certificate, list expiry dates,
lint a recipe. Parsing and judging are pure; reading goes through runner.capture (openssl)."""
