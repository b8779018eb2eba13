#!/usr/bin/env bash
# scripts/teams-app-package: the Teams app package an admin uploads must carry the bot's
# ids and domain everywhere the manifest needs them, icons of the sizes Teams requires,
# and at most 10 commands per list; bad arguments are refused with exit status 2.
set -euo pipefail
source_dir="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
app_id="11111111-2222-3333-4444-555555555555"

"$source_dir/scripts/teams-app-package" --app-id "$app_id" --domain haveri.example.org \
  --out "$work/package.zip" >/dev/null
python3 - "$work/package.zip" "$app_id" <<'PY'
import json, struct, sys, zipfile
package, app_id = sys.argv[1:3]
with zipfile.ZipFile(package) as z:
    assert sorted(z.namelist()) == ["color.png", "manifest.json", "outline.png"], z.namelist()
    manifest = json.loads(z.read("manifest.json"))
    assert manifest["id"] == app_id
    assert manifest["bots"][0]["botId"] == app_id
    assert manifest["webApplicationInfo"]["id"] == app_id
    assert manifest["validDomains"] == ["haveri.example.org"], manifest["validDomains"]
    assert "haveri.example.com" not in json.dumps(manifest)
    for commands in manifest["bots"][0]["commandLists"]:
        assert len(commands["commands"]) <= 10
        for command in commands["commands"]:
            assert len(command["title"]) <= 32 and len(command["description"]) <= 128, command
    rsc = {p["name"] for p in manifest["authorization"]["permissions"]["resourceSpecific"]}
    assert "ChannelMessage.Read.Group" in rsc, rsc
    for name, size in (("color.png", 192), ("outline.png", 32)):
        data = z.read(name)
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
        width, height = struct.unpack(">II", data[16:24])
        assert (width, height) == (size, size), (name, width, height)
print("package ok")
PY

status=0
"$source_dir/scripts/teams-app-package" --app-id not-a-guid --domain haveri.example.org \
  --out "$work/bad.zip" 2>/dev/null || status=$?
[[ $status -eq 2 ]] || { echo "a bad app id gave exit status $status, not 2"; exit 1; }
status=0
"$source_dir/scripts/teams-app-package" --app-id "$app_id" --domain "https://x/" \
  --out "$work/bad.zip" 2>/dev/null || status=$?
[[ $status -eq 2 ]] || { echo "a URL as domain gave exit status $status, not 2"; exit 1; }
[[ ! -e "$work/bad.zip" ]] || { echo "a refused run wrote a package"; exit 1; }
echo "refusals ok"
