# The Key Vault / IMDS / AAD fakes behave like the real services.
exec /usr/bin/python3 tests/fakes/selftest.py
