#!/bin/bash
# 05-readme.t — the README's first command works as a newcomer types it:
# the command block under "Two commands", taken from README.md itself, run
# with a fresh, empty HOME (no ~/.local), from the top of the tree. It
# installs the Debian packages (apt-get), builds, runs `make install`
# (into /usr/local, as the README says), and mounts a store on
# ~/esfs. Where there is no sudo (a root shell on a bare Debian), the
# README says to leave out every "sudo ", and the test does just that.
# Then: the store is mounted where the README says, its directories were
# made with their parents, mode 0700, and it takes an append.
. "$(dirname "$0")/lib.sh"

readme=$TOP/README.md
cmd=$(awk '/^## Two commands/ { on = 1; next }
	on && /^    / { sub(/^    /, ""); print; exit }' "$readme")
like "$cmd" '^sudo apt-get update && .*make deps install.* && esfs ~/.local/share/esfs ~/esfs$' \
	"the README's first command installs and mounts ~/.local/share/esfs on ~/esfs"
tr '\n' ' ' < "$readme" | grep -q '(as root, where there may be no `sudo`, leave out every `sudo `)'
ok $? "the README tells root without sudo to leave out every 'sudo '"
if ! command -v sudo > /dev/null; then
	if [ "$(id -u)" -ne 0 ]; then
		ok 0 "# SKIP neither root nor sudo here"
		done_testing
	fi
	cmd=${cmd//sudo /}
	diag "no sudo here: running it as root without 'sudo '"
fi

H=$T/home
mkdir "$H"
# As a newcomer: a login shell's environment, not make's (a make check
# run would hand its own variables, O= and CFLAGS=, to the inner make).
(cd "$TOP" && env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS HOME="$H" \
	timeout 600 bash -c "$cmd") > "$T/out" 2>&1
rc=$?
is "$rc" 0 "the command succeeds"
[ "$rc" -eq 0 ] || tail -n 20 "$T/out" | sed 's/^/#   /'
mountpoint -q "$H/esfs"
ok $? "a store is mounted on ~/esfs"
grep -q " $H/esfs fuse.esfs " /proc/mounts
ok $? "/proc/mounts shows it as fuse.esfs"
like "$(grep " $H/esfs fuse.esfs " /proc/mounts)" "^$H/.local/share/esfs " "its store is ~/.local/share/esfs"
is "$(stat -c %a "$H/.local" "$H/.local/share" "$H/.local/share/esfs" | tr '\n' ' ')" "700 700 700 " \
	"the missing ~/.local, ~/.local/share and the store were made, mode 0700"
mkdir "$H/esfs/streams/Readme-1" &&
	printf 'Expected-Version: 0\nEvent-Type: Tried\n\n{"it":"works"}\n' > "$H/esfs/streams/Readme-1/new"
ok $? "the mounted store takes an append"
is "$(jq -c .data "$H/esfs/streams/Readme-1/1")" '{"it":"works"}' "and serves it"
fusermount3 -u "$H/esfs"
ok $? "it unmounts"
for i in $(seq 1 100); do
	pgrep -f -- "esfs $H/.local/share/esfs" > /dev/null || break
	sleep 0.1
done
pgrep -f -- "esfs $H/.local/share/esfs" > /dev/null
ok $((! $?)) "and its daemon exits"
done_testing
