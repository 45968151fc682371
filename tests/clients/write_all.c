/* write_all.c — a C writer for tests/35-writers.t: writes its standard
 * input to FILE with write(2) in a loop that sends the rest again after a
 * short count, as a careful C program does; prints "ok" or the errno's
 * name (EEXIST, …) of the write that failed.
 *
 *   write_all FILE < MESSAGE
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap);
	ssize_t n;

	if (argc != 2 || !buf) {
		fprintf(stderr, "usage: write_all FILE < MESSAGE\n");
		return 2;
	}
	while ((n = read(0, buf + len, cap - len)) > 0)
		if ((len += (size_t)n) == cap && !(buf = realloc(buf, cap *= 2)))
			return 2;
	if (n < 0)
		return 2;
	int fd = open(argv[1], O_WRONLY);
	if (fd < 0) {
		printf("%s\n", strerrorname_np(errno));
		return 1;
	}
	for (size_t off = 0; off < len; off += (size_t)n) {
		n = write(fd, buf + off, len - off);
		if (n < 0) {
			printf("%s\n", strerrorname_np(errno));
			return 1;
		}
	}
	if (close(fd) != 0) {
		printf("%s\n", strerrorname_np(errno));
		return 1;
	}
	printf("ok\n");
	return 0;
}
