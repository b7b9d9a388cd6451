# Microsoft's official JS clients work against the fakes unchanged.
exec bash tests/fakes/sdk/run.sh
