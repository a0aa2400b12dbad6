#!/usr/bin/env python3
"""Write the GCS objects the luxe_fdw tests read into an emulator root.

Usage: fixtures.py ROOT

Each subdirectory of ROOT is a bucket (see regress/emulator).  Everything is
generated here, deterministically, so no binary fixture is committed and the
expected test outputs can rely on exact contents.
"""
import gzip
import os
import subprocess
import sys


def put(root, bucket, name, data):
    path = os.path.join(root, bucket, *name.split("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(path, "wb") as f:
        f.write(data)


def main(root):
    b = "luxe-test"
    # Types, quoting, NULL vs empty string, pandas-style floats and booleans.
    put(root, b, "types/people.csv",
        "id,name,city,score,visits,active,born\n"
        "1,Ada,London,91.5,34.0,True,1815-12-10\n"
        "2,\"Lovelace, Ada\",\"Paris\",78.25,3,False,1990-01-01\n"
        "3,\"He said \"\"hi\"\"\",,0.0,0.0,True,\n"
        "4,\"multi\nline\",\"\",1e3,12.000,false,2000-02-29\n"
        "5,Zoë – “quoted”,Kraków,-2.5,7,TRUE,2024-06-30\n"
        "6,  padded  ,\t,NaN,0,t,1970-01-01\n")
    # Same rows without a header, for positional mapping.
    put(root, b, "types/noheader.csv",
        "1,Ada,London\n2,Bob,\n3,,Rome\n")
    # Header mapping: columns in another order, extra columns.
    put(root, b, "mapped/reordered.csv",
        "extra,City Name,id,Full Name\n"
        "x,London,1,Ada\n"
        "y,Paris,2,Bob\n")
    # Line endings: CRLF, blank lines, a last line without a terminator.
    put(root, b, "lines/crlf.csv",
        "id,txt\r\n1,a\r\n\r\n2,\"b\r\nc\"\r\n3,d")
    # UTF-8 byte order mark.
    put(root, b, "enc/bom.csv", b"\xef\xbb\xbfid,name\n1,caf\xc3\xa9\n")
    put(root, b, "enc/bom_noheader.csv", b"\xef\xbb\xbf1,caf\xc3\xa9\n2,th\xc3\xa9\n")
    # ISO-8859-1 bytes.
    put(root, b, "enc/latin1.csv", b"id,name\n1,Chlo\xe9\n2,Herm\xe8s\n")
    # Invalid UTF-8 on line 3.
    put(root, b, "enc/bad_utf8.csv", b"id,name\n1,ok\n2,bad\xff\xfe\n")
    # Dialects: tab, pipe with a custom quote, a null marker.
    put(root, b, "dialect/data.tsv", "a\tb\n1\thello world\n2\t\n")
    put(root, b, "dialect/pipe.csv", "1|'x|y'|z\n2|'it''s'|\n")
    put(root, b, "dialect/na.csv", "id,v,t\n1,NA,NA\n2,,\n3,5,x\n")
    # Field-count errors and jagged rows.
    put(root, b, "errors/jagged.csv", "a,b,c\n1,2,3\n4,5\n6\n")
    put(root, b, "errors/extra.csv", "a,b\n1,2\n3,4,5\n")
    put(root, b, "errors/malformed.csv", "a,b\n1,ok\n2,\"bro\"ken\n3,x\n")
    put(root, b, "errors/unterminated.csv", "a,b\n1,ok\n2,\"never closed\n")
    put(root, b, "errors/badvalue.csv", "a,b\n1,10\n2,20\n3,thirty\n4,40\n")
    put(root, b, "errors/quoted_nl.csv", "a,b\n1,\"one\ntwo\"\n")
    put(root, b, "errors/nl_badvalue.csv", "a,b\n1,\"x\ny\"\n2,\"p\r\nq\"\nbad,z\n")
    put(root, b, "errors/empty.csv", "")
    # Wildcards: part files plus objects that must not match.
    for i in range(3):
        put(root, b, "parts/out.csv/part-%05d.csv" % i,
            "n,part\n" + "".join("%d,%d\n" % (i * 10 + j, i) for j in range(10)))
    put(root, b, "parts/out.csv/_SUCCESS", "")
    put(root, b, "parts/out.csv/readme.txt", "not,a,part\n")
    # Enough objects to need several listing pages (maxResults <= 1000).
    for i in range(1050):
        put(root, b, "many/obj-%04d.csv" % i, "%d\n" % i)
    # Object names that need percent-encoding.
    put(root, b, "names/dir with space/ünïcode file.csv", "v\nspaced\n")
    put(root, b, "names/a+b&c=d?.csv", "v\nreserved\n")
    # A 1 MB field, and many quoted line breaks that straddle chunks.
    big = "x" * (1024 * 1024)
    put(root, b, "big/field.csv", "id,blob,tail\n1,\"%s\",end\n2,small,end\n" % big)
    rows = []
    for i in range(20000):
        rows.append('%d,"line one of %d\nline two, with comma\r\nline ""three""",%d\n' % (i, i, i * 2))
    put(root, b, "big/newlines.csv", "id,txt,dbl\n" + "".join(rows))

    # gzip: an object named *.gz, and one of two concatenated members.
    plain = "id,name\n" + "".join("%d,row %d with some text\n" % (i, i) for i in range(5000))
    put(root, b, "gz/data.csv.gz", gzip.compress(plain.encode(), mtime=0))
    put(root, b, "gz/multi.csv.gz", gzip.compress(b"id,name\n1,first member\n", mtime=0) +
        gzip.compress(b"2,second member\n", mtime=0))
    put(root, b, "gz/broken.csv.gz", gzip.compress(plain.encode(), mtime=0)[:3000])

    # IMPORT FOREIGN SCHEMA: typed columns, a gzip object, part files.
    put(root, b, "import/listings.csv",
        "Product ID,brand,price,big,sold,listed_on,updated_at,notes,empty\n"
        "1,Chanel,12.5,123456789012345678901234,True,2024-01-02,2024-01-02 10:00:00+00,\"a, b\",\n"
        "2,Dior,7,1,false,2024-02-03,2024-02-03T11:30:00Z,,\n"
        "3,Hermès,1e3,2,TRUE,2024-03-04,2024-03-04 12:00:00,x,\n")
    put(root, b, "import/sales.csv.gz",
        gzip.compress(b"id,amount,when\n1,10,2024-01-01\n2,20,2024-01-02\n", mtime=0))
    for i in range(2):
        put(root, b, "import/out.csv/part-%05d.csv" % i, "n,label\n%d,p%d\n%d,q%d\n" % (2 * i, i, 2 * i + 1, i))
    put(root, b, "import/out.csv/_SUCCESS", "")
    put(root, b, "import/readme.txt", "not a table\n")
    put(root, b, "import/2024 report.csv", "Region Name,Total\nEU,3\n")

    # A Vestiaire-shaped sample for the pipeline tests.
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(root, "vestiaire", "data", "vestiaire.csv")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    subprocess.run([sys.executable, os.path.join(here, "gen_vestiaire"),
                    "--rows", "3000", "--seed", "42", "--out", out], check=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
