# make install | install-control [PREFIX=/usr/local] [DESTDIR=]  — see scripts/install.sh
PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: install install-control test demo
install:
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" scripts/install.sh
install-control:
	PARTS=control PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" scripts/install.sh
test:
	scripts/test.sh
demo:
	scripts/demo.sh
