#!/bin/sh
# Installs oarn from a release mirror, for this user, without root: the release is checked
# before anything is unpacked (SHA256SUMS signed by enough of the maintainers whose keys this
# script carries, then each file's sha256), installed side by side under PREFIX/versions/VERSION
# with PREFIX/current pointing at it (the layout `oarn update` manages), and linked as
# BIN_DIR/oarn. It never enables or starts a service, and never runs what it downloaded.
#
#   sh install.sh --mirror https://releases.example/oarn [--version V] [--prefix DIR]
#                 [--bin-dir DIR] [--keys FILE]
#
# Needs: curl or wget, openssl (3.0 or later: Ed25519), sha256sum, tar, gzip.
# The published script carries the maintainers' keys in OARN_KEYS (written by
# `oarn-release install-script`); --keys FILE names them otherwise (`oarn-release install-keys`).
set -eu

OARN_KEYS=''

mirror=""
version=""
prefix="${XDG_DATA_HOME:-$HOME/.local/share}/oarn"
bin_dir="$HOME/.local/bin"
keys_file=""

fail() {
    echo "install.sh: $*" >&2
    exit 1
}

usage() {
    sed -n '8,9p' "$0" 2>/dev/null | sed 's/^# *//' >&2 || true
    exit 2
}

while [ $# -gt 0 ]; do
    case "$1" in
        --mirror) mirror=${2:?--mirror needs a URL}; shift 2 ;;
        --version) version=${2:?--version needs a version}; shift 2 ;;
        --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
        --bin-dir) bin_dir=${2:?--bin-dir needs a directory}; shift 2 ;;
        --keys) keys_file=${2:?--keys needs a file}; shift 2 ;;
        -h|--help) usage ;;
        *) echo "install.sh: unknown argument $1" >&2; usage ;;
    esac
done

[ -n "$mirror" ] || fail "--mirror is required: the release repository's URL (the one update.mirror names)"
case "$mirror" in
    https://*|http://*) ;;
    *) fail "--mirror $mirror is not an http:// or https:// URL" ;;
esac
mirror=${mirror%/}
for tool in openssl sha256sum tar gzip; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool is needed; install it (e.g. apt install $tool)"
done
if command -v curl >/dev/null 2>&1; then
    fetch() { curl --fail --silent --show-error --location --proto '=https,http' --output "$2" "$1"; }
elif command -v wget >/dev/null 2>&1; then
    fetch() { wget --quiet --output-document="$2" "$1"; }
else
    fail "curl or wget is needed"
fi

if [ -n "$keys_file" ]; then
    keys=$(cat "$keys_file") || fail "cannot read $keys_file"
else
    keys=$OARN_KEYS
fi
threshold=$(printf '%s\n' "$keys" | sed -n 's/^threshold \([0-9][0-9]*\)$/\1/p')
[ -n "$threshold" ] || fail "no maintainers' keys: this script carries none; give --keys FILE (from \`oarn-release install-keys\`)"

case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) target=x86_64-unknown-linux-gnu ;;
    Linux-aarch64|Linux-arm64) target=aarch64-unknown-linux-gnu ;;
    *) fail "no release for $(uname -s) $(uname -m): build from source (see the installation guide)" ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

if [ -z "$version" ]; then
    fetch "$mirror/releases/LATEST" "$work/LATEST" || fail "cannot read $mirror/releases/LATEST"
    version=$(head -n 1 "$work/LATEST")
fi
case "$version" in
    ''|*[!0-9A-Za-z.+-]*) fail "the mirror names version '$version', which is not a version" ;;
esac
base="$mirror/releases/$version"
name="oarn-$version-$target"
echo "install.sh: checking oarn $version for $target from $mirror" >&2
fetch "$base/SHA256SUMS" "$work/SHA256SUMS" || fail "cannot read $base/SHA256SUMS"
fetch "$base/SHA256SUMS.sig" "$work/SHA256SUMS.sig" || fail "cannot read $base/SHA256SUMS.sig"

# Count the maintainers whose signature on SHA256SUMS verifies; each key counts once.
valid=0
signers=""
printf '%s\n' "$keys" | grep '^key ' > "$work/keys" || true
while read -r kw keyid spki keyname; do
    [ "$kw" = key ] || continue
    sig=$(sed -n "s/^$keyid \([A-Za-z0-9+/=]*\)$/\1/p" "$work/SHA256SUMS.sig" | head -n 1)
    [ -n "$sig" ] || continue
    printf '%s\n' '-----BEGIN PUBLIC KEY-----' "$spki" '-----END PUBLIC KEY-----' > "$work/key.pem"
    printf '%s\n' "$sig" | openssl base64 -d -A > "$work/sig.bin" 2>/dev/null || continue
    if openssl pkeyutl -verify -pubin -inkey "$work/key.pem" -rawin -in "$work/SHA256SUMS" \
        -sigfile "$work/sig.bin" >/dev/null 2>&1; then
        valid=$((valid + 1))
        signers="$signers ${keyname:-$keyid}"
    fi
done < "$work/keys"
if [ "$valid" -lt "$threshold" ]; then
    fail "SHA256SUMS is signed by $valid of the $threshold maintainers it needs: refused, nothing installed"
fi
echo "install.sh: SHA256SUMS signed by$signers ($valid of $threshold needed)" >&2

for file in "$name.tar.gz" root.json; do
    want=$(sed -n "s/^\([0-9a-f]\{64\}\)  $file$/\1/p" "$work/SHA256SUMS")
    [ -n "$want" ] || fail "the signed SHA256SUMS lists no $file: no release for $target"
    fetch "$base/$file" "$work/$file" || fail "cannot read $base/$file"
    got=$(sha256sum "$work/$file" | cut -d ' ' -f 1)
    [ "$got" = "$want" ] || fail "$file has sha256 $got, not the signed $want: refused, nothing installed"
done

# Unpack beside the installed versions, then switch current with one rename.
mkdir -p "$prefix/versions"
dest="$prefix/versions/$version"
partial="$prefix/versions/.$version.partial"
rm -rf "$partial"
mkdir "$partial"
tar -xzf "$work/$name.tar.gz" -C "$partial" --no-same-owner --strip-components=1 "$name" \
    || fail "$name.tar.gz did not unpack"
for exe in oarn oarn-worker-infer oarn-worker-net oarn-worker-chain oarn-worker-anon; do
    [ -f "$partial/$exe" ] || fail "the release lacks $exe"
done
rm -rf "$dest"
mv "$partial" "$dest"
if [ -L "$prefix/current" ]; then
    previous=$(readlink "$prefix/current")
    [ "$previous" = "versions/$version" ] || ln -sfn "$previous" "$prefix/previous"
fi
ln -sfn "versions/$version" "$prefix/.current.new"
mv -fT "$prefix/.current.new" "$prefix/current" 2>/dev/null || {
    rm -f "$prefix/current"
    mv "$prefix/.current.new" "$prefix/current"
}
# The root the release was signed under: what `oarn update` verifies the next one against.
cp "$work/root.json" "$prefix/root.json"
mkdir -p "$bin_dir"
ln -sfn "$prefix/current/oarn" "$bin_dir/oarn"

cat <<EOF
oarn $version is installed in $dest and linked as $bin_dir/oarn.
Next (nothing was enabled or started):
  oarn init
  oarn config set update.mirror $mirror
  oarn config set update.root $prefix/root.json
  oarn start            # or see the installation guide for the systemd unit
EOF
