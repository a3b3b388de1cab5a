from django.contrib.admin.apps import AdminConfig


class SecondFactorAdminConfig(AdminConfig):
    default_site = "fersite.admin_site.SecondFactorAdminSite"
