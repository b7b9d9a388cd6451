/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VV_VERSION_H
#define VV_VERSION_H
#ifndef VV_VERSION
#define VV_VERSION "0.2.0"
#endif
#endif
