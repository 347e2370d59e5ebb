/* proc.c — tgs3-bench's child processes: free ports, spawn, readiness, stop, RssAnon, CPU time, rm -rf. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/bench/bench.h"

#define MAX_PROCS 16

static struct bench_proc *procs[MAX_PROCS];

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap(double secs)
{
    struct timespec ts = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int bench_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    int port = -1;
    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && getsockname(fd, (struct sockaddr *)&a, &al) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

int bench_spawn(struct bench_proc *p, const char *name, char *const argv[], const char *log)
{
    snprintf(p->name, sizeof(p->name), "%s", name);
    pid_t pid = fork();
    if (pid < 0) {
        perror("tgs3-bench: fork");
        return -1;
    }
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        int nul = open("/dev/null", O_RDONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        if (nul >= 0)
            dup2(nul, 0);
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    p->pid = pid;
    for (size_t i = 0; i < MAX_PROCS; i++)
        if (procs[i] == NULL) {
            procs[i] = p;
            break;
        }
    return 0;
}

static void tail_log(const char *log)
{
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "tail -n 20 '%s' | sed 's/^/  | /' >&2", log);
    if (system(cmd) != 0)
        fprintf(stderr, "  (no log)\n");
}

int bench_wait_port(struct bench_proc *p, int port, double secs, const char *log)
{
    double end = bench_now() + secs;
    while (bench_now() < end) {
        int st;
        if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
            fprintf(stderr, "tgs3-bench: %s exited during start-up:\n", p->name);
            p->pid = 0;
            tail_log(log);
            return -1;
        }
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a;
        memset(&a, 0, sizeof(a));
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons((uint16_t)port);
        int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
        if (fd >= 0)
            close(fd);
        if (ok)
            return 0;
        nap(0.05);
    }
    fprintf(stderr, "tgs3-bench: %s not listening on %d after %.0f s:\n", p->name, port, secs);
    tail_log(log);
    return -1;
}

void bench_stop(struct bench_proc *p)
{
    if (p == NULL || p->pid <= 0)
        return;
    kill(p->pid, SIGTERM);
    double end = bench_now() + 15;
    int st;
    while (waitpid(p->pid, &st, WNOHANG) == 0) {
        if (bench_now() > end) {
            fprintf(stderr, "tgs3-bench: %s ignored SIGTERM for 15 s, killing it\n", p->name);
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &st, 0);
            break;
        }
        nap(0.02);
    }
    p->pid = 0;
    for (size_t i = 0; i < MAX_PROCS; i++)
        if (procs[i] == p)
            procs[i] = NULL;
}

void bench_stop_all(void)
{
    for (size_t i = 0; i < MAX_PROCS; i++)
        if (procs[i] != NULL)
            bench_stop(procs[i]);
}

void bench_kill_all_now(void)
{
    for (size_t i = 0; i < MAX_PROCS; i++)
        if (procs[i] != NULL && procs[i]->pid > 0)
            kill(procs[i]->pid, SIGKILL);
}

/* The number after "key" in a /proc file of "key value kB" lines, or -1. */
static long proc_kb(const char *path, const char *key)
{
    char line[256];
    size_t klen = strlen(key);
    long kb = -1;
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return -1;
    while (fgets(line, sizeof(line), fp) != NULL)
        if (strncmp(line, key, klen) == 0) {
            kb = strtol(line + klen, NULL, 10);
            break;
        }
    fclose(fp);
    return kb;
}

long bench_rss_anon_kb(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    return proc_kb(path, "RssAnon:");
}

double bench_cpu_secs(pid_t pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return -1;
    size_t n = fread(line, 1, sizeof(line) - 1, fp);
    fclose(fp);
    line[n] = '\0';
    /* "PID (COMM) STATE ..." where COMM may hold spaces: fields count from the last ')'. */
    char *p = strrchr(line, ')');
    unsigned long long ut = 0, st = 0;
    if (p == NULL || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

double bench_busy_secs(void)
{
    FILE *fp = fopen("/proc/stat", "r");
    if (fp == NULL)
        return -1;
    /* "cpu user nice system idle iowait irq softirq steal ...": busy is all but idle, iowait and steal. */
    unsigned long long v[8] = {0};
    int n = fscanf(fp, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
                   &v[7]);
    fclose(fp);
    if (n < 7)
        return -1;
    return (double)(v[0] + v[1] + v[2] + v[5] + v[6]) / (double)sysconf(_SC_CLK_TCK);
}

long bench_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

long bench_log_warnings(const char *log, long from, char *first, size_t firstsz)
{
    char line[512];
    long n = 0;
    if (firstsz > 0)
        first[0] = '\0';
    FILE *fp = fopen(log, "r");
    if (fp == NULL)
        return -1;
    if (from > 0 && fseek(fp, from, SEEK_SET) != 0) {
        fclose(fp);
        return -1;
    }
    while (fgets(line, sizeof(line), fp) != NULL) {
        if (strstr(line, " warn ") == NULL && strstr(line, " error ") == NULL)
            continue;
        if (n++ == 0 && firstsz > 0) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(first, firstsz, "%s", line);
        }
    }
    fclose(fp);
    return n;
}

long bench_mem_available_kb(void)
{
    return proc_kb("/proc/meminfo", "MemAvailable:");
}

int bench_remove_tree(const char *dir)
{
    int st = 0;
    pid_t pid = fork();
    if (pid == 0) {
        execlp("rm", "rm", "-rf", dir, (char *)NULL);
        _exit(127);
    }
    return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}
