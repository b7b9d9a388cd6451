#!/usr/bin/python3
"""fakectl.py: command-line client of the fakes' control API (stdlib only,
works from busybox sh in the guest).

    fakectl.py [-s STATE_DIR | -u CTL_URL] [-f FIELD] [-q] OP [key=value ...]

STATE_DIR defaults to $FAKES_STATE_DIR; CTL_URL to $FAKE_CTL_URL.  A value
is parsed as JSON when it is valid JSON (numbers, true/false, null, objects,
lists), otherwise taken as a string; key@=FILE reads the value from FILE.
Prints the JSON answer, or only FIELD with -f (strings raw, one per line
for lists), nothing with -q.  `counter NAME` prints the number; `key_pem`
prints the PEM.  Exit status 0 on ok, 1 on an error answer, 2 on usage or
connection errors.

Examples:
    fakectl.py -s $D put_secret name=bek value=c2VjcmV0 tags='{"MachineName":"vm"}'
    fakectl.py -s $D -f version put_key name=kek bits=2048
    fakectl.py -s $D fault server=imds status=410 count=2
    fakectl.py -s $D fault server=primary path='/secrets/*' status=429 retry_after=1
    fakectl.py -s $D counter primary.get_secret
"""

import json
import os
import sys
import urllib.error
import urllib.request


def ctl_url(state_dir, url):
    if url:
        return url.rstrip("/")
    state_dir = state_dir or os.environ.get("FAKES_STATE_DIR")
    if state_dir:
        with open(os.path.join(state_dir, "ports.json")) as f:
            return json.load(f)["ctl_url"]
    env = os.environ.get("FAKE_CTL_URL")
    if env:
        return env.rstrip("/")
    raise SystemExit("fakectl: give -s STATE_DIR, -u CTL_URL, $FAKES_STATE_DIR or $FAKE_CTL_URL")


def parse_value(text):
    try:
        return json.loads(text)
    except ValueError:
        return text


def call(url, op, params, timeout=60):
    """POST params to the control API; -> the decoded answer (dict)."""
    data = json.dumps(params).encode("utf-8")
    req = urllib.request.Request("%s/ctl/%s" % (url, op), data=data, method="POST",
                                 headers={"Content-Type": "application/json"})
    # the control API is on loopback: never go through a proxy
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=timeout) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        return json.loads(e.read() or b'{"ok":false,"error":"HTTP %d"}' % e.code)


def main(argv):
    state_dir = url = field = None
    quiet = False
    args = list(argv)
    while args and args[0].startswith("-") and args[0] != "-":
        opt = args.pop(0)
        if opt in ("-h", "--help"):
            print(__doc__)
            return 0
        if opt == "-q":
            quiet = True
            continue
        if not args:
            print("fakectl: %s needs a value" % opt, file=sys.stderr)
            return 2
        val = args.pop(0)
        if opt == "-s":
            state_dir = val
        elif opt == "-u":
            url = val
        elif opt == "-f":
            field = val
        else:
            print("fakectl: unknown option %s" % opt, file=sys.stderr)
            return 2
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    op = args.pop(0)
    params = {}
    for a in args:
        if "@=" in a and a.index("@=") < a.find("=") + 1:
            k, path = a.split("@=", 1)
            with open(path) as f:
                params[k] = f.read()
            continue
        if "=" not in a:
            if op == "counter" and "name" not in params:
                params["name"] = a
                continue
            print("fakectl: expected key=value, got %r" % a, file=sys.stderr)
            return 2
        k, v = a.split("=", 1)
        params[k] = parse_value(v)
    try:
        ans = call(ctl_url(state_dir, url), op, params)
    except (OSError, ValueError) as e:
        print("fakectl: %s" % e, file=sys.stderr)
        return 2
    if not ans.get("ok"):
        print("fakectl: %s: %s" % (op, ans.get("error")), file=sys.stderr)
        return 1
    if quiet:
        return 0
    if field is None and op == "counter":
        field = "value"
    if field is None and op == "key_pem":
        field = "pem"
    if field is not None:
        val = ans
        for part in field.split("."):
            val = val.get(part) if isinstance(val, dict) else None
        if isinstance(val, str):
            sys.stdout.write(val if val.endswith("\n") else val + "\n")
        elif isinstance(val, list):
            for x in val:
                print(x if isinstance(x, str) else json.dumps(x))
        else:
            print(json.dumps(val))
        return 0
    print(json.dumps(ans, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
