#!/usr/bin/env python
"""Maintainer script: pin sizes and MD5s of the figshare files into the packaged registry.

figshare publishes no checksums on its download pages, but its public API lists, per
article, each file's ``id``, ``name``, ``size`` and ``computed_md5``. This script reads those
listings and fills the empty ``size``/``md5`` cells of ``brainfeat/_data/registry-figshare.tsv``
(rows already pinned are compared, never overwritten). A file whose id is in no listed
article can be downloaded and hashed instead (``--download-missing``). It also rehashes a
local copy of the ds001246 text files into ``brainfeat/_data/ds001246-text.tsv``, or merges a
published table of their sizes and MD5s into it (``--text-hashes``; rows already pinned are
compared, never overwritten).

Usage (needs the network)::

    python scripts/pin_registry.py --article 7387130 --article <decodedDNN article id>
    python scripts/pin_registry.py --download-missing          # hash what the API did not list
    python scripts/pin_registry.py --ds001246-text ../shared/data/ds001246
    python scripts/pin_registry.py --text-hashes ../shared/data/ds001246/text-hashes.tsv

Review the diff of the tables, run the tests, commit.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import requests

DATA = Path(__file__).resolve().parents[1] / "brainfeat" / "_data"
FIGSHARE_TABLE = DATA / "registry-figshare.tsv"
TEXT_TABLE = DATA / "ds001246-text.tsv"
API = "https://api.figshare.com/v2"
DOWNLOAD = "https://ndownloader.figshare.com/files"


def read_table(path: Path) -> tuple[list[str], list[str], list[dict[str, str]]]:
    """Comment lines, header and rows of a registry table."""
    lines = path.read_text(encoding="utf-8").splitlines()
    comments = [line for line in lines if line.startswith("#")]
    body = [line for line in lines if line.strip() and not line.startswith("#")]
    header = body[0].split("\t")
    return comments, header, [dict(zip(header, line.split("\t"))) for line in body[1:]]


def write_table(path: Path, comments: list[str], header: list[str],
                rows: list[dict[str, str]]) -> None:
    lines = [*comments, "\t".join(header), *("\t".join(r[h] for h in header) for r in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def article_files(api: str, article: str) -> dict[str, dict]:
    """``{file id: file record}`` of one figshare article (all pages)."""
    files: dict[str, dict] = {}
    page = 1
    while True:
        response = requests.get(f"{api}/articles/{article}/files",
                                params={"page": page, "page_size": 1000}, timeout=60)
        response.raise_for_status()
        batch = response.json()
        files.update({str(record["id"]): record for record in batch})
        if len(batch) < 1000:
            return files
        page += 1


def pin(rows: list[dict[str, str]], listed: dict[str, dict]) -> list[str]:
    """Fill empty size/md5 cells from API records; returns messages about disagreements."""
    messages = []
    for row in rows:
        record = listed.get(row["file_id"])
        if record is None:
            continue
        size, md5 = str(record.get("size", "")), record.get("computed_md5") or ""
        if record.get("name") and record["name"] != row["name"]:
            messages.append(f"{row['file_id']}: registry says {row['name']!r}, figshare "
                            f"says {record['name']!r}")
        for key, value in (("size", size), ("md5", md5)):
            if row[key] and value and row[key] != value:
                messages.append(f"{row['name']}: pinned {key} {row[key]} but figshare says "
                                f"{value}; left unchanged")
            elif not row[key]:
                row[key] = value
    return messages


def download_and_hash(url: str) -> tuple[int, str]:
    """Size and MD5 of a remote file, streamed."""
    digest, size = hashlib.md5(), 0
    with requests.get(url, stream=True, timeout=(30, 300)) as response:
        response.raise_for_status()
        for chunk in response.iter_content(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def hash_text_tree(root: Path) -> list[dict[str, str]]:
    """Rows (path, size, md5) for every non-image file under a local ds001246 copy."""
    rows = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if not path.is_file() or relative.endswith(".nii.gz") or relative in (
                "annex-keys.tsv", "PROVENANCE.md"):
            continue
        content = path.read_bytes()
        rows.append({"path": relative, "size": str(len(content)),
                     "md5": hashlib.md5(content).hexdigest()})
    return rows


def merge_text_hashes(rows: list[dict[str, str]], table: Path) -> list[str]:
    """Add the rows of a (path, size, md5) table missing from ``rows``; returns disagreements."""
    known = {row["path"]: row for row in rows}
    messages = []
    for row in read_table(table)[2]:
        pinned = known.get(row["path"])
        if pinned is None:
            rows.append(row)
        elif (pinned["size"], pinned["md5"]) != (row["size"], row["md5"]):
            messages.append(f"{row['path']}: pinned {pinned['size']} {pinned['md5']} but "
                            f"{table} says {row['size']} {row['md5']}; left unchanged")
    rows.sort(key=lambda row: row["path"])
    return messages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--article", action="append", default=[],
                        help="figshare article id whose file list is read (repeatable)")
    parser.add_argument("--api", default=API, help="figshare API base URL")
    parser.add_argument("--download-missing", action="store_true",
                        help="download and hash files no article listed")
    parser.add_argument("--ds001246-text", type=Path, default=None,
                        help="a local copy of the ds001246 text files to hash")
    parser.add_argument("--text-hashes", type=Path, default=None,
                        help="a (path, size, md5) table of ds001246 text files to merge")
    args = parser.parse_args(argv)

    comments, header, rows = read_table(FIGSHARE_TABLE)
    listed: dict[str, dict] = {}
    for article in args.article:
        listed.update(article_files(args.api, article))
    for message in pin(rows, listed):
        print("WARNING", message, file=sys.stderr)
    if args.download_missing:
        for row in rows:
            if not row["size"] or not row["md5"]:
                size, md5 = download_and_hash(f"{DOWNLOAD}/{row['file_id']}")
                row["size"], row["md5"] = row["size"] or str(size), row["md5"] or md5
                print(f"hashed {row['name']}: {size} bytes, md5 {md5}")
    write_table(FIGSHARE_TABLE, comments, header, rows)
    pinned = sum(bool(row["size"] and row["md5"]) for row in rows)
    print(f"{FIGSHARE_TABLE.name}: {pinned}/{len(rows)} rows pinned")
    if args.ds001246_text is not None:
        text_rows = hash_text_tree(args.ds001246_text)
        write_table(TEXT_TABLE, [], ["path", "size", "md5"], text_rows)
        print(f"{TEXT_TABLE.name}: {len(text_rows)} files hashed")
    if args.text_hashes is not None:
        comments, header, text_rows = read_table(TEXT_TABLE)
        for message in merge_text_hashes(text_rows, args.text_hashes):
            print("WARNING", message, file=sys.stderr)
        write_table(TEXT_TABLE, comments, header, text_rows)
        print(f"{TEXT_TABLE.name}: {len(text_rows)} files pinned")
    return 0


if __name__ == "__main__":
    sys.exit(main())
