/* deepbind-main - loads a library the way PHP loads its extensions.
 *
 *   deepbind-main LIB lazy|now PORT N   dlopen(LIB, RTLD_DEEPBIND | mode),
 *       then N cycles of its twp_deep_cycle(PORT) and its twp_deep_own_dup();
 *       prints "requests N errors E own-dup ok|broken".
 *   deepbind-main --runpath NAME [deep]  dlopen(NAME, RTLD_NOW [| RTLD_DEEPBIND])
 *       by bare name, found only through this program's RUNPATH
 *       ($ORIGIN/deepbind-runpath); prints "runpath ok" or the dlerror.
 * Exit status 0 when everything printed is ok. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int runpath(const char *name, int deep)
{
	void *h = dlopen(name, RTLD_NOW | (deep ? RTLD_DEEPBIND : 0));
	if (!h) {
		printf("runpath failed: %s\n", dlerror());
		return 1;
	}
	printf("runpath ok\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "--runpath"))
		return runpath(argv[2], argc > 3);
	if (argc != 5) {
		fprintf(stderr, "usage: deepbind-main LIB lazy|now PORT N\n");
		return 2;
	}
	int mode = !strcmp(argv[2], "now") ? RTLD_NOW : RTLD_LAZY;
	void *h = dlopen(argv[1], mode | RTLD_DEEPBIND);
	int (*cycle)(int) = h ? (int (*)(int))dlsym(h, "twp_deep_cycle") : NULL;
	int (*own)(void) = h ? (int (*)(void))dlsym(h, "twp_deep_own_dup") : NULL;
	if (!cycle || !own) {
		fprintf(stderr, "deepbind-main: %s\n", dlerror());
		return 1;
	}
	long n = atol(argv[4]), errors = 0;
	for (long i = 0; i < n; i++)
		errors += cycle(atoi(argv[3])) != 0;
	int own_ok = own() == 0;
	printf("requests %ld errors %ld own-dup %s\n", n, errors, own_ok ? "ok" : "broken");
	return errors || !own_ok;
}
