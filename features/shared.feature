@shared
Feature: Shared instances and their connection parameters
  A shared instance takes no partition: it lives in the partition of a
  started host instance of the same software release and type (or the host
  its SLA names), which sees it in its list of shared instances and
  publishes connection parameters for it.

  Background:
    Given a person "alice"
    And a person "bob"
    And a software release "frontend"
    And a computer "COMP-1" of "alice" with 2 partitions
    And "alice" supplies "frontend" on "COMP-1"

  Scenario: A shared instance is hosted by a started instance and gets its own connection
    Given "alice" requests "cdn" of "frontend"
    And the nodes converge within 10 minutes
    When "bob" requests "site" of "frontend" with:
      | shared        | true               |
      | param backend | http://bob.example |
    Then "site" is hosted by "cdn"
    And 1 partition of "COMP-1" is free
    When the nodes converge within 5 minutes
    Then "site" publishes a connection parameter "url"
    And node "COMP-1" configured "cdn" 1 time

  Scenario: A shared instance without a host waits and is placed when one starts
    When "bob" requests "site" of "frontend" with:
      | shared | true |
    Then "site" is pending with a reason mentioning "no started instance"
    When "alice" requests "cdn" of "frontend"
    Then "site" is hosted by "cdn"
    When the nodes converge within 10 minutes
    Then "site" publishes a connection parameter "url"
    And "cdn" publishes a connection parameter "url"

  Scenario: A shared instance pinned to a host of another release waits with the reason
    Given a software release "hello"
    And "alice" supplies "hello" on "COMP-1"
    And "alice" requests "web" of "hello"
    When "bob" requests "site" of "frontend" with:
      | shared            | true              |
      | sla instance_guid | {guid of "web"}   |
    Then "site" is pending with a reason mentioning "another software release"

  Scenario: Destroying a shared instance removes it from its host
    Given "alice" requests "cdn" of "frontend"
    And "bob" requests "site" of "frontend" with:
      | shared | true |
    And the nodes converge within 10 minutes
    When "bob" destroys "site"
    And the nodes converge within 5 minutes
    Then "cdn" hosts no shared instance
    And "site" is destroyed
    And node "COMP-1" configured "cdn" 1 time

  Scenario: A shared instance moves to another host when its host is destroyed
    Given "alice" requests 2 instances of "frontend" titled "cdn"
    And "bob" requests "site" of "frontend" with:
      | shared | true |
    And the nodes converge within 10 minutes
    Then "site" is hosted by "cdn-1"
    When "alice" destroys "cdn-1"
    Then "site" is hosted by "cdn-2"
    When the nodes converge within 10 minutes
    Then "site" publishes a connection parameter "url"

  Scenario: A closed computer hosts only its owner's shared instances
    Given a computer "COMP-PRIV" of "alice" with 1 partition and:
      | scope | closed |
    And "alice" supplies "frontend" on "COMP-PRIV"
    And "alice" requests "private-cdn" of "frontend" with:
      | sla computer_guid | COMP-PRIV |
    When "bob" requests "site" of "frontend" with:
      | shared            | true                    |
      | sla instance_guid | {guid of "private-cdn"} |
    Then "site" is pending with a reason mentioning "closed to the marketplace"
    When "alice" requests "own-site" of "frontend" with:
      | shared            | true                    |
      | sla instance_guid | {guid of "private-cdn"} |
    Then "own-site" is hosted by "private-cdn"
