/* broker_main.c - the twpool-broker program. */
#include "broker_int.h"

int main(int argc, char **argv)
{
	return tb_main(argc, argv);
}
