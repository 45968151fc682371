# write.py — Python writers for tests/35-writers.t: writes standard input
# to FILE as a Python program would, and prints "ok" or the errno's name.
#
#   python3 write.py FILE open      open(FILE, 'w').write(text): buffered text
#   python3 write.py FILE oswrite   os.write in a loop that resends the rest
import errno
import os
import sys

path, how = sys.argv[1], sys.argv[2]
data = sys.stdin.buffer.read()
try:
    if how == "open":
        with open(path, "w") as f:
            f.write(data.decode())
    else:
        fd = os.open(path, os.O_WRONLY)
        try:
            while data:
                data = data[os.write(fd, data):]
        finally:
            os.close(fd)
    print("ok")
except OSError as e:
    print(errno.errorcode[e.errno])
