# make install [PREFIX=/usr/local] [DESTDIR=]  — see scripts/install.sh
PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: install test demo
install:
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" scripts/install.sh
test:
	scripts/test.sh
demo:
	scripts/demo.sh
